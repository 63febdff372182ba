//! `mt show`: print what a `.torrent` holds.

use std::path::PathBuf;

use argh::FromArgs;
use mt::Error;
use mt::magnet::{MagnetError, MagnetLink};
use mt::metainfo::{MetaVersion, Metainfo};
use serde_json::{Value, json};

use super::output::{escaped, human_bytes, json_line};

/// Show what a .torrent file or a magnet link holds.
#[derive(FromArgs)]
#[argh(subcommand, name = "show")]
pub struct ShowArgs {
    /// the .torrent file, or a magnet link (quote it)
    #[argh(positional)]
    torrent: PathBuf,
    /// print one JSON object instead of text
    #[argh(switch)]
    json: bool,
}

/// Each file as `{path, length}`, the path '/'-joined and starting with the torrent name; a
/// file's position in the list is its index (pad files count, as in BEP 53). BEP 47
/// attributes add `padding`, `executable`, `hidden` or `symlink` (the target's path).
pub fn file_list_json(meta: &Metainfo) -> Vec<Value> {
    meta.info
        .files
        .iter()
        .map(|file| {
            let mut entry =
                json!({ "path": display_path(meta, &file.path), "length": file.length });
            let attr = &file.attr;
            for (set, key) in [
                (attr.padding, "padding"),
                (attr.executable, "executable"),
                (attr.hidden, "hidden"),
            ] {
                if set {
                    entry[key] = Value::Bool(true);
                }
            }
            if let Some(target) = &attr.symlink {
                entry["symlink"] = Value::String(target.join("/"));
            }
            entry
        })
        .collect()
}

fn display_path(meta: &Metainfo, path: &[String]) -> String {
    std::iter::once(meta.info.name.as_str())
        .chain(path.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("/")
}

/// Runs `mt show`.
pub fn run(args: ShowArgs) -> Result<i32, Error> {
    if let Some(text) = args.torrent.to_str().filter(|t| MagnetLink::looks_like(t)) {
        return show_magnet(&MagnetLink::parse(text).map_err(magnet_error)?, args.json);
    }
    let meta = Metainfo::load(&args.torrent)?;
    let info = &meta.info;
    if args.json {
        json_line(&json!({
            "name": info.name,
            "info_hash": meta.info_hash.to_hex(),
            "info_hash_v2": meta.info_hash_v2.map(|h| h.to_hex()),
            "meta_version": if info.version.has_v2() { 2 } else { 1 },
            "version": info.version.name(),
            "total_size": info.total_length(),
            "piece_length": info.piece_length,
            "pieces": meta.layout().piece_count(),
            "private": info.private,
            "trackers": meta.trackers,
            "web_seeds": meta.web_seeds,
            "comment": meta.comment,
            "created_by": meta.created_by,
            "creation_date": meta.creation_date,
            "files": file_list_json(&meta),
            "magnet": meta.magnet(),
        }));
        return Ok(0);
    }
    println!("name          {}", escaped(&info.name));
    let version = match info.version {
        MetaVersion::V1 => "1 (v1)",
        MetaVersion::V2 => "2 (v2 only)",
        MetaVersion::Hybrid => "2 (hybrid: v1 and v2)",
    };
    println!("meta version  {version}");
    if info.version.has_v1() {
        println!("info hash     {}", meta.info_hash);
    }
    if let Some(v2) = meta.info_hash_v2 {
        println!("info hash v2  {v2}");
    }
    println!("size          {} ({} bytes)", human_bytes(info.total_length()), info.total_length());
    println!(
        "pieces        {} of {}",
        meta.layout().piece_count(),
        human_bytes(u64::from(info.piece_length))
    );
    println!("private       {}", if info.private { "yes" } else { "no" });
    if meta.trackers.is_empty() {
        println!("trackers      none (trackerless)");
    }
    for (tier, urls) in meta.trackers.iter().enumerate() {
        println!("tier {:<8} {}", tier + 1, escaped(&urls.join(" ")));
    }
    for url in &meta.web_seeds {
        println!("web seed      {}", escaped(url));
    }
    if let Some(comment) = &meta.comment {
        println!("comment       {}", escaped(comment));
    }
    if let Some(by) = &meta.created_by {
        println!("created by    {}", escaped(by));
    }
    if let Some(date) = meta.creation_date {
        println!("created       {}", super::date::utc_text(date));
    }
    println!("magnet        {}", meta.magnet());
    println!("files");
    print_tree(&meta);
    Ok(0)
}

/// Prints the files as an indented tree, folders once, sizes and each file's index on the
/// right. A pad file is one line with its index (file indexes count pad files), not a file in
/// a `.pad` folder.
fn print_tree(meta: &Metainfo) {
    if !meta.info.is_multi_file() {
        println!("  {}  {}", escaped(&meta.info.name), human_bytes(meta.info.total_length()));
        return;
    }
    println!("  {}/", escaped(&meta.info.name));
    let mut previous: &[String] = &[];
    for (index, file) in meta.info.files.iter().enumerate() {
        if file.is_padding() {
            println!("    (file {index}: padding, {})", human_bytes(file.length));
            continue;
        }
        let (folders, name) = file.path.split_at(file.path.len().saturating_sub(1));
        let shared = previous.iter().zip(folders).take_while(|(a, b)| a == b).count();
        for (depth, folder) in folders.iter().enumerate().skip(shared) {
            println!("  {}{}/", "  ".repeat(depth + 1), escaped(folder));
        }
        let name = name.first().map_or("", String::as_str);
        let note = match &file.attr.symlink {
            Some(target) => format!("symlink to {}", escaped(&target.join("/"))),
            None if file.attr.executable => format!("{} executable", human_bytes(file.length)),
            None => human_bytes(file.length),
        };
        // The index is what `mt get --files` and a magnet link's `so=` take.
        println!("  {}{}  {note}  (file {index})", "  ".repeat(folders.len() + 1), escaped(name));
        previous = folders;
    }
}

/// The fatal error for a link that cannot be read (exit 2).
pub fn magnet_error(err: MagnetError) -> Error {
    Error::Usage(format!("invalid magnet link: {err}"))
}

/// Prints what a magnet link says.
fn show_magnet(link: &MagnetLink, json: bool) -> Result<i32, Error> {
    if json {
        json_line(&json!({
            "info_hash": link.info_hash.to_hex(),
            "info_hash_v2": link.info_hash_v2.map(|h| h.to_hex()),
            "name": link.name,
            "trackers": link.trackers,
            "peers": link.peers,
            "web_seeds": link.web_seeds,
            "magnet": link.to_uri(),
        }));
        return Ok(0);
    }
    if link.has_v1 {
        println!("info hash     {}", link.info_hash);
    }
    if let Some(v2) = link.info_hash_v2 {
        println!("info hash v2  {v2}");
    }
    println!("name          {}", escaped(link.name.as_deref().unwrap_or("(not given)")));
    if link.trackers.is_empty() {
        println!("trackers      none");
    }
    for url in &link.trackers {
        println!("tracker       {}", escaped(url));
    }
    for peer in &link.peers {
        println!("peer          {}", escaped(peer));
    }
    for url in &link.web_seeds {
        println!("web seed      {}", escaped(url));
    }
    println!("magnet        {}", link.to_uri());
    Ok(0)
}
