//! Which files pytest would collect.
