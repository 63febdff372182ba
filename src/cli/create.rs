//! `mt create`: make a `.torrent` from a file or folder.

use std::path::PathBuf;

use argh::FromArgs;
use mt::Error;
use mt::create::{self, CreateOptions};
use mt::metainfo::MetaVersion;
use serde_json::json;

use super::output::{human_bytes, json_line, per_second, rate};
use super::progress::{self, ByteBar};
use super::show::file_list_json;

/// Create a .torrent from a file or folder.
#[derive(FromArgs)]
#[argh(subcommand, name = "create")]
pub struct CreateArgs {
    /// the file or folder to share
    #[argh(positional)]
    input: PathBuf,
    /// where to write the torrent (default: <name>.torrent)
    #[argh(positional)]
    output: Option<PathBuf>,
    /// tracker announce URL; repeat for more (one tier each)
    #[argh(option, short = 't', long = "tracker")]
    trackers: Vec<String>,
    /// piece length in bytes or with a suffix (256K, 1M); power of two, 16K to 64M
    #[argh(option, short = 'p', long = "piece-length", from_str_fn(parse_size))]
    piece_length: Option<u32>,
    /// mark the torrent private (BEP 27)
    #[argh(switch)]
    private: bool,
    /// a comment stored in the torrent
    #[argh(option)]
    comment: Option<String>,
    /// web seed URL (BEP 19); repeatable
    #[argh(option, long = "webseed")]
    web_seeds: Vec<String>,
    /// leave out the creation date (same input gives the same file)
    #[argh(switch)]
    no_date: bool,
    /// make a v2-only torrent (BEP 52): per-file SHA-256 merkle trees
    #[argh(switch)]
    v2: bool,
    /// make a hybrid torrent: v1 and v2 hashes of the same files, files aligned by pad files
    #[argh(switch)]
    hybrid: bool,
    /// hashing threads (default: one per core)
    #[argh(option, default = "0")]
    threads: usize,
    /// print one JSON object instead of text
    #[argh(switch)]
    json: bool,
    /// replace the output file if it exists
    #[argh(switch)]
    force: bool,
}

/// Parses `262144`, `256K`, `256KiB`, `1M`, `1MiB` (binary units).
pub fn parse_size(text: &str) -> Result<u32, String> {
    let lower = text.trim().to_ascii_lowercase();
    let (digits, shift) = match lower.trim_end_matches("ib").trim_end_matches('b') {
        s if s.ends_with('k') => (&s[..s.len() - 1], 10),
        s if s.ends_with('m') => (&s[..s.len() - 1], 20),
        s => (s, 0),
    };
    let value: u64 = digits.parse().map_err(|_| format!("cannot read size {text:?}"))?;
    let bytes = value.checked_shl(shift).filter(|b| b >> shift == value);
    bytes.and_then(|b| u32::try_from(b).ok()).ok_or_else(|| format!("size {text:?} is too large"))
}

/// Runs `mt create`.
pub fn run(args: CreateArgs) -> Result<i32, Error> {
    for url in &args.trackers {
        if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with("udp://"))
        {
            return Err(Error::Usage(format!("tracker {url:?} is not an http, https or udp URL")));
        }
    }
    let options = CreateOptions {
        input: args.input.clone(),
        piece_length: args.piece_length.map(create::check_piece_length).transpose()?,
        trackers: args.trackers,
        web_seeds: args.web_seeds,
        private: args.private,
        comment: args.comment,
        no_date: args.no_date,
        threads: args.threads,
        version: match (args.v2, args.hybrid) {
            (true, true) => {
                return Err(Error::Usage("--v2 and --hybrid cannot be used together".into()));
            }
            (true, false) => MetaVersion::V2,
            (false, true) => MetaVersion::Hybrid,
            (false, false) => MetaVersion::V1,
        },
    };
    let name = create::input_name(&args.input)?;
    let output = args.output.unwrap_or_else(|| PathBuf::from(format!("{name}.torrent")));
    if !args.force && output.exists() {
        return Err(Error::Usage(format!(
            "{} already exists; pass --force to replace it",
            output.display()
        )));
    }
    let files = create::walk(&args.input)?;
    let total: u64 = files.iter().map(|f| f.length).sum();
    let bar = ByteBar::start("hashing", total, progress::wanted(args.json));
    let created = create::create(&options, files, bar.counter());
    bar.finish();
    let created = created?;
    create::write_atomically(&output, &created.bytes, args.force)?;

    let meta = &created.metainfo;
    let total = meta.info.total_length();
    if args.json {
        json_line(&json!({
            "torrent": output.display().to_string(),
            "name": meta.info.name,
            "info_hash": meta.info_hash.to_hex(),
            "info_hash_v2": meta.info_hash_v2.map(|h| h.to_hex()),
            "meta_version": if meta.info.version.has_v2() { 2 } else { 1 },
            "magnet": meta.magnet(),
            "total_size": total,
            "piece_length": meta.info.piece_length,
            "pieces": meta.layout().piece_count(),
            "files": file_list_json(meta),
            "hash_seconds": created.hash_time.as_secs_f64(),
            "hash_bytes_per_second": per_second(total, created.hash_time),
        }));
    } else {
        let files = meta.info.files.iter().filter(|f| !f.is_padding()).count();
        println!("created {}", super::output::escaped_path(&output));
        println!("  name       {}", super::output::escaped(&meta.info.name));
        if meta.info.version.has_v1() {
            println!("  info hash  {}", meta.info_hash);
        }
        if let Some(v2) = meta.info_hash_v2 {
            println!("  v2 hash    {v2}");
        }
        println!("  magnet     {}", meta.magnet());
        println!(
            "  size       {} in {} file{}, {} pieces of {}",
            human_bytes(total),
            files,
            if files == 1 { "" } else { "s" },
            meta.layout().piece_count(),
            human_bytes(u64::from(meta.info.piece_length))
        );
        println!(
            "  hashed in  {:.2} s ({})",
            created.hash_time.as_secs_f64(),
            rate(total, created.hash_time)
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("262144"), Ok(262144));
        assert_eq!(parse_size("256K"), Ok(262144));
        assert_eq!(parse_size("256KiB"), Ok(262144));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert!(parse_size("8G").is_err());
        assert!(parse_size("abc").is_err());
    }
}
