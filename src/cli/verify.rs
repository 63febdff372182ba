//! `mt verify`: check data on disk against a torrent, piece by piece.

use std::path::PathBuf;

use argh::FromArgs;
use mt::Error;
use mt::hash::{self, PieceStatus};
use mt::metainfo::Metainfo;
use mt::selection::{self, Selection};
use mt::session::PARTS_FILE;
use mt::storage::{IoMode, Parts, Storage};
use serde_json::json;

use super::output::{human_bytes, json_line, rate};
use super::progress::{self, ByteBar};

/// Check a file or folder against a torrent; exit 1 if any piece is bad or missing.
#[derive(FromArgs)]
#[argh(subcommand, name = "verify")]
pub struct VerifyArgs {
    /// the .torrent file
    #[argh(positional)]
    torrent: PathBuf,
    /// the torrent's file, or its top folder
    #[argh(positional)]
    data: PathBuf,
    /// hashing threads (default: one per core)
    #[argh(option, default = "0")]
    threads: usize,
    /// check only the files whose path inside the torrent matches this glob (as `mt get
    /// --only`); repeatable
    #[argh(option)]
    only: Vec<String>,
    /// check only these files, by the index `mt show` gives them, e.g. 0,3-5
    #[argh(option)]
    files: Option<String>,
    /// print one JSON object instead of text
    #[argh(switch)]
    json: bool,
}

/// Runs `mt verify`.
pub fn run(args: VerifyArgs) -> Result<i32, Error> {
    let meta = Metainfo::load(&args.torrent)?;
    if !args.data.exists() {
        return Err(Error::Data { path: args.data, reason: "does not exist".into() });
    }
    if meta.info.is_multi_file() && !args.data.is_dir() {
        return Err(Error::Data {
            path: args.data,
            reason: "is a file, but this torrent holds a folder".into(),
        });
    }
    if !meta.info.is_multi_file() && args.data.is_dir() {
        return Err(Error::Data {
            path: args.data,
            reason: "is a folder, but this torrent holds a single file".into(),
        });
    }
    let indexes = match &args.files {
        Some(text) => selection::parse_indexes(text).map_err(|e| Error::Usage(e.to_string()))?,
        None => Vec::new(),
    };
    let selected = Selection::choose(&meta.info, &args.only, &indexes)
        .map_err(|e| Error::Usage(e.to_string()))?;
    let paths = meta.info.file_paths(&args.data);
    let layout = meta.layout();
    // Pieces a selected file shares with others find those bytes in `mt get`'s parts file.
    let parts = selected
        .as_ref()
        .filter(|_| meta.info.is_multi_file())
        .map(|s| Parts { path: args.data.join(PARTS_FILE), selected: s.files().to_vec() });
    let storage = Storage::open_read_some(&paths, layout, IoMode::Auto, parts.as_ref())?;
    let wanted = selected.as_ref().map(|s| s.pieces(layout));
    let bar = ByteBar::start("verifying", layout.total_length(), progress::wanted(args.json));
    let started = std::time::Instant::now();
    let status =
        hash::verify_all(&storage, &hash::Expected::of(&meta), args.threads, bar.counter());
    bar.finish();
    let status = status?;
    let elapsed = started.elapsed();

    // Only the selected files' pieces count.
    let counted: Vec<PieceStatus> = status
        .iter()
        .enumerate()
        .filter(|(p, _)| wanted.as_ref().is_none_or(|w| w.get(u32::try_from(*p).unwrap_or(0))))
        .map(|(_, s)| *s)
        .collect();
    let count = |want: PieceStatus| counted.iter().filter(|s| **s == want).count();
    let (good, bad, missing) =
        (count(PieceStatus::Good), count(PieceStatus::Bad), count(PieceStatus::Missing));
    let mut files = Vec::new();
    for (index, path) in paths.iter().enumerate() {
        let chosen = selected.as_ref().is_none_or(|s| s.files()[index]);
        if layout.is_virtual(index) || !chosen {
            continue;
        }
        let pieces = layout.file_pieces(index);
        let bad: Vec<u32> =
            pieces.clone().filter(|p| status[*p as usize] != PieceStatus::Good).collect();
        let state = match storage.unavailable(index) {
            Some(reason) => format!("missing ({reason})"),
            None if !bad.is_empty() => format!(
                "damaged ({} of {} pieces bad, at {})",
                bad.len(),
                pieces.len(),
                offsets_text(layout, index, &bad)
            ),
            None => "ok".to_string(),
        };
        files.push((path, state));
    }
    if args.json {
        let list: Vec<_> = files
            .iter()
            .map(|(path, state)| json!({ "path": path.display().to_string(), "status": state }))
            .collect();
        json_line(&json!({
            "info_hash": meta.info_hash.to_hex(),
            "pieces": counted.len(),
            "good": good,
            "bad": bad,
            "missing": missing,
            "complete": good == counted.len(),
            "files": list,
            "seconds": elapsed.as_secs_f64(),
        }));
    } else {
        for (path, state) in &files {
            let (word, detail) = state.split_once(' ').unwrap_or((state, ""));
            println!(
                "{word:<8} {}  {}",
                super::output::escaped_path(path),
                super::output::escaped(detail)
            );
        }
        println!(
            "{good} of {} pieces good, {bad} bad, {missing} missing ({} in {:.2} s, {})",
            counted.len(),
            human_bytes(layout.total_length()),
            elapsed.as_secs_f64(),
            rate(layout.total_length(), elapsed)
        );
    }
    Ok(if good == counted.len() { 0 } else { 1 })
}

/// Where the bad pieces start in file `file`: "offset N" for the first few, then a count.
fn offsets_text(layout: &mt::layout::Layout, file: usize, bad: &[u32]) -> String {
    const SHOWN: usize = 4;
    let offsets: Vec<String> = bad
        .iter()
        .take(SHOWN)
        .filter_map(|&p| layout.piece(p))
        .filter_map(|piece| layout.slices(layout.piece_range(piece)).find(|s| s.file == file))
        .map(|slice| slice.offset.to_string())
        .collect();
    let more = bad.len().saturating_sub(SHOWN);
    let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
    let word = if offsets.len() == 1 { "offset" } else { "offsets" };
    format!("{word} {}{tail}", offsets.join(", "))
}
