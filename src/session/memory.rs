//! This process's resident memory, split the way that matters for mapped I/O.
//!
//! File-backed pages (our mappings of torrent data) are page cache the kernel can drop at any
//! time; anonymous pages are ours alone. Reporting them apart keeps the figures honest.

/// Resident memory in bytes, from `/proc/self/status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Anonymous (private) resident memory: heap, stacks, buffers.
    pub private: u64,
    /// File-backed resident memory: mapped torrent data and the binary.
    pub file: u64,
}

/// Reads the current figures; zeros where the system does not say.
pub fn memory_usage() -> MemoryUsage {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    MemoryUsage { private: field("RssAnon:"), file: field("RssFile:") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_some_private_memory() {
        assert!(memory_usage().private > 0);
    }
}
