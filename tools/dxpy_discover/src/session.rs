//! One discovery run: config, walk, parallel analysis, index.
