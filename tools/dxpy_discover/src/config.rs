//! pytest configuration: rootdir and inifile resolution and the options that shape collection.
