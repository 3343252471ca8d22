//! dx-py's execution core.
