//! (module peer)
