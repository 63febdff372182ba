//! (module metainfo)
