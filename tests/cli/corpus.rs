//! The hostile-torrent corpus: malformed `.torrent` files built in code from two valid bases
//! (single-file and multi-file, 40 000 bytes in 16 KiB pieces), each mutation named.

use mt::bencode::Value;

pub type Dict = mt::bencode::Dict;

/// A named malformed torrent.
pub struct Case {
    /// What is wrong with it.
    pub name: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

pub fn case(name: impl Into<String>, bytes: Vec<u8>) -> Case {
    Case { name: name.into(), bytes }
}

pub fn dict<const N: usize>(entries: [(&str, Value); N]) -> Dict {
    entries.into_iter().map(|(k, v)| (k.as_bytes().to_vec(), v)).collect()
}

pub fn int(n: i64) -> Value {
    Value::Int(n)
}

pub fn text(s: &str) -> Value {
    Value::bytes(s)
}

pub fn list<const N: usize>(items: [Value; N]) -> Value {
    Value::List(items.into())
}

/// 40 000 bytes in 16 KiB pieces: three hashes.
pub fn single_info() -> Dict {
    dict([
        ("name", text("file.bin")),
        ("piece length", int(16_384)),
        ("pieces", Value::Bytes(vec![7; 60])),
        ("length", int(40_000)),
    ])
}

pub fn file(length: i64, path: &[&str]) -> Value {
    Value::Dict(dict([
        ("length", int(length)),
        ("path", Value::List(path.iter().map(|p| text(p)).collect())),
    ]))
}

/// The same 40 000 bytes as three files, one of them empty and one nested.
pub fn multi_info() -> Dict {
    let mut info = single_info();
    info.remove(&b"length"[..]);
    info.insert(b"name".to_vec(), text("top"));
    let files = [file(30_000, &["dir", "a"]), file(0, &["empty"]), file(10_000, &["b"])];
    info.insert(b"files".to_vec(), Value::List(files.into()));
    info
}

pub fn torrent(info: Value) -> Vec<u8> {
    let root = dict([("announce", text("http://127.0.0.1:9/announce")), ("info", info)]);
    Value::Dict(root).encode()
}

/// A torrent whose `info` is `base` changed by `edit`.
pub fn edited(base: fn() -> Dict, edit: impl FnOnce(&mut Dict)) -> Vec<u8> {
    let mut info = base();
    edit(&mut info);
    torrent(Value::Dict(info))
}

pub fn set(info: &mut Dict, key: &str, value: Value) {
    info.insert(key.as_bytes().to_vec(), value);
}

/// A torrent whose info field `key` holds `raw` bytes, spliced in unencoded.
pub fn spliced(key: &str, raw: &[u8]) -> Vec<u8> {
    const MARK: &[u8] = b"@@SPLICE@@";
    let mut bytes = edited(single_info, |info| set(info, key, Value::bytes(MARK)));
    let encoded = Value::bytes(MARK).encode();
    let at = bytes.windows(encoded.len()).position(|w| w == encoded).expect("marker");
    bytes.splice(at..at + encoded.len(), raw.iter().copied());
    bytes
}

/// Values of every bencode type but the one a field should have.
pub fn wrong_types(right: &str) -> Vec<(&'static str, Value)> {
    let all = [
        ("int", int(5)),
        ("bytes", text("x")),
        ("list", list([int(1)])),
        ("dict", Value::Dict(dict([("k", int(1))]))),
    ];
    all.into_iter().filter(|(kind, _)| *kind != right).collect()
}

pub fn truncation_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (shape, bytes) in [
        ("single", torrent(Value::Dict(single_info()))),
        ("multi", torrent(Value::Dict(multi_info()))),
    ] {
        out.extend(
            (0..bytes.len()).map(|at| case(format!("{shape} cut at {at}"), bytes[..at].to_vec())),
        );
    }
    out
}

pub fn wrong_type_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (key, right) in [
        ("name", "bytes"),
        ("piece length", "int"),
        ("pieces", "bytes"),
        ("length", "int"),
        ("private", "int"),
    ] {
        for (kind, value) in wrong_types(right) {
            let bytes = edited(single_info, |info| set(info, key, value));
            out.push(case(format!("info {key} as {kind}"), bytes));
        }
    }
    for (kind, value) in wrong_types("dict") {
        out.push(case(format!("info as {kind}"), torrent(value)));
    }
    for (kind, value) in wrong_types("list") {
        out.push(case(
            format!("files as {kind}"),
            edited(multi_info, |i| set(i, "files", value.clone())),
        ));
        let entry = Value::Dict(dict([("length", int(40_000)), ("path", value)]));
        let bytes = edited(multi_info, |i| set(i, "files", list([entry])));
        out.push(case(format!("file path as {kind}"), bytes));
    }
    for (kind, value) in wrong_types("dict") {
        let bytes = edited(multi_info, |i| set(i, "files", list([value])));
        out.push(case(format!("file entry as {kind}"), bytes));
    }
    for (kind, value) in wrong_types("int") {
        let entry = Value::Dict(dict([("length", value), ("path", list([text("a")]))]));
        out.push(case(
            format!("file length as {kind}"),
            edited(multi_info, |i| set(i, "files", list([entry]))),
        ));
    }
    for (kind, value) in wrong_types("bytes") {
        let entry = Value::Dict(dict([("length", int(40_000)), ("path", list([value]))]));
        out.push(case(
            format!("path component as {kind}"),
            edited(multi_info, |i| set(i, "files", list([entry]))),
        ));
    }
    for (kind, top) in
        [("list", b"li1ee".to_vec()), ("int", b"i1e".to_vec()), ("bytes", b"3:abc".to_vec())]
    {
        out.push(case(format!("top level as {kind}"), top));
    }
    let outer = |key: &str, value: Value| {
        Value::Dict(dict([(key, value), ("info", Value::Dict(single_info()))])).encode()
    };
    out.push(case("announce-list as int", outer("announce-list", int(1))));
    out.push(case(
        "announce-list tier as bytes",
        outer("announce-list", list([text("http://t/")])),
    ));
    out.push(case("announce-list url as int", outer("announce-list", list([list([int(1)])]))));
    out.push(case("url-list as int", outer("url-list", int(1))));
    out.push(case(
        "name not utf-8",
        edited(single_info, |i| set(i, "name", Value::Bytes(vec![0xff, 0xfe]))),
    ));
    out
}

pub fn size_cases() -> Vec<Case> {
    let max = i64::MAX;
    let mut out = vec![
        case("length -1", edited(single_info, |i| set(i, "length", int(-1)))),
        case("length i64 min", edited(single_info, |i| set(i, "length", int(i64::MIN)))),
        case("length i64 max", edited(single_info, |i| set(i, "length", int(max)))),
        case("length zero", edited(single_info, |i| set(i, "length", int(0)))),
        case("piece length -1", edited(single_info, |i| set(i, "piece length", int(-1)))),
        case("piece length zero", edited(single_info, |i| set(i, "piece length", int(0)))),
        case(
            "piece length 512 MiB",
            edited(single_info, |i| set(i, "piece length", int(512 << 20))),
        ),
        case("piece length i64 max", edited(single_info, |i| set(i, "piece length", int(max)))),
        case("length past i64", spliced("length", b"i9223372036854775808e")),
        case("length of 30 digits", spliced("length", b"i123456789012345678901234567890e")),
    ];
    let files = |lengths: &[i64]| {
        let entries = lengths.iter().enumerate().map(|(n, l)| file(*l, &[&format!("f{n}")]));
        let entries = entries.collect();
        edited(multi_info, |i| set(i, "files", Value::List(entries)))
    };
    out.push(case("file length -1", files(&[-1, 40_001])));
    out.push(case("two files of i64 max", files(&[max, max])));
    out.push(case("files summing past u64", files(&[max, max, max, 4])));
    out.push(case("files summing to i64 max + 1", files(&[max, 1])));
    out.push(case("files all empty", files(&[0, 0])));
    out
}

pub fn piece_cases() -> Vec<Case> {
    let pieces = |n: usize| move |i: &mut Dict| set(i, "pieces", Value::Bytes(vec![1; n]));
    vec![
        case("one hash too few", edited(single_info, pieces(40))),
        case("one hash too many", edited(single_info, pieces(80))),
        case("no hashes", edited(single_info, pieces(0))),
        case("pieces 59 bytes", edited(single_info, pieces(59))),
        case("pieces 61 bytes", edited(single_info, pieces(61))),
        case("pieces 1 byte", edited(single_info, pieces(1))),
        case(
            "2^40 pieces of one byte",
            edited(single_info, |i| {
                set(i, "piece length", int(1));
                set(i, "length", int(1 << 40));
            }),
        ),
        case(
            "i64 max bytes in 256 MiB pieces",
            edited(single_info, |i| {
                set(i, "piece length", int(256 << 20));
                set(i, "length", int(i64::MAX));
            }),
        ),
    ]
}

pub fn nesting_cases() -> Vec<Case> {
    let depth = 100_000;
    let lists = [b"l".repeat(depth), b"e".repeat(depth)].concat();
    let dicts = [b"d1:a".repeat(depth), b"i0e".to_vec(), b"e".repeat(depth)].concat();
    vec![
        case("100k nested lists at top", lists.clone()),
        case("100k nested lists in info", spliced("pieces", &lists)),
        case("100k nested dicts in info", spliced("pieces", &dicts)),
        case(
            "100k unclosed lists",
            b"d4:infol".iter().copied().chain(b"l".repeat(depth)).collect(),
        ),
    ]
}

pub fn length_prefix_cases() -> Vec<Case> {
    vec![
        case("pieces 99999999999: prefix", spliced("pieces", b"99999999999:abc")),
        case("pieces 23-digit prefix", spliced("pieces", b"99999999999999999999999:abc")),
        case("u64 max prefix", spliced("pieces", b"18446744073709551615:abc")),
        case("key with huge prefix", b"d99999999999:infoi1ee".to_vec()),
        case("prefix without colon", spliced("pieces", b"60")),
        case("prefix with leading zero", spliced("pieces", b"060:abc")),
    ]
}

pub fn bad_names() -> Vec<(&'static str, &'static str)> {
    vec![
        ("dotdot", ".."),
        ("dot", "."),
        ("absolute", "/abs"),
        ("slash", "a/b"),
        ("backslash", "a\\..\\b"),
        ("empty", ""),
        ("nul", "a\0b"),
        ("drive", "C:"),
        ("escaping", "../../etc/passwd"),
    ]
}

pub fn path_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (label, bad) in bad_names() {
        out.push(case(format!("name {label}"), edited(single_info, |i| set(i, "name", text(bad)))));
        out.push(case(
            format!("multi-file name {label}"),
            edited(multi_info, |i| set(i, "name", text(bad))),
        ));
        for at in [0, 1] {
            let mut path = vec!["dir", "a"];
            path[at] = bad;
            let files = list([file(30_000, &path), file(10_000, &["b"])]);
            out.push(case(
                format!("path component {at} {label}"),
                edited(multi_info, |i| set(i, "files", files)),
            ));
        }
    }
    let files = list([file(30_000, &[]), file(10_000, &["b"])]);
    out.push(case("empty path list", edited(multi_info, |i| set(i, "files", files))));
    out
}

pub fn duplicate_cases() -> Vec<Case> {
    let files = |entries: Value| edited(multi_info, |i| set(i, "files", entries));
    vec![
        case("same path twice", files(list([file(20_000, &["a"]), file(20_000, &["a"])]))),
        case(
            "same nested path twice",
            files(list([file(20_000, &["d", "a"]), file(20_000, &["d", "a"])])),
        ),
        case(
            "file is also a folder",
            files(list([file(20_000, &["a"]), file(20_000, &["a", "b"])])),
        ),
        case("folder before file", files(list([file(20_000, &["a", "b"]), file(20_000, &["a"])]))),
    ]
}

pub fn bencode_cases() -> Vec<Case> {
    let valid = torrent(Value::Dict(single_info()));
    let mut dup_key = valid.clone();
    let at = dup_key.len() - 1;
    dup_key.splice(at..at, b"8:announce1:x".iter().copied());
    vec![
        case("trailing garbage", [&valid[..], b"xyz"].concat()),
        case("two top-level values", [&valid[..], &valid[..]].concat()),
        case("duplicate top-level key", dup_key),
        case("leading zero integer", spliced("length", b"i040000e")),
        case("negative zero", spliced("private", b"i-0e")),
        case("empty integer", spliced("length", b"ie")),
        case("integer with a plus", spliced("length", b"i+40000e")),
        case("bad type byte", spliced("length", b"x")),
        case("missing info", Value::Dict(dict([("announce", text("http://t/"))])).encode()),
        case("missing name", edited(single_info, |i| drop(i.remove(&b"name"[..])))),
        case("missing piece length", edited(single_info, |i| drop(i.remove(&b"piece length"[..])))),
        case("missing pieces", edited(single_info, |i| drop(i.remove(&b"pieces"[..])))),
        case("neither length nor files", edited(single_info, |i| drop(i.remove(&b"length"[..])))),
        case("both length and files", edited(multi_info, |i| set(i, "length", int(40_000)))),
        case("empty files list", edited(multi_info, |i| set(i, "files", list([])))),
        case("empty input", Vec::new()),
    ]
}

pub fn all_cases() -> Vec<Case> {
    [wrong_type_cases(), size_cases(), piece_cases(), nesting_cases(), length_prefix_cases()]
        .into_iter()
        .chain([path_cases(), duplicate_cases(), bencode_cases()])
        .flatten()
        .collect()
}
