//! (module registry)
