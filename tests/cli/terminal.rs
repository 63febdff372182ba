//! What `mt` shows a person at a terminal: the command list, and progress bars drawn on a
//! pseudo-terminal (`script` gives `mt` one).

use crate::common::{TestEnv, require_tool};

#[test]
fn help_lists_download_as_another_name_for_get() {
    let env = TestEnv::new();
    let out = env.run(&["--help"]);
    let text = &out.expect_code(0).stdout;
    assert!(text.lines().any(|l| l.trim_start().starts_with("download")), "{text}");
}

#[test]
fn get_on_a_terminal_draws_no_unstyled_bar() {
    if !require_tool("script") {
        return;
    }
    let env = TestEnv::new();
    env.write_generated("data", 3 << 20, 5);
    env.run(&["create", "-p", "64K", "data"]).expect_code(0);
    let seed = env.seed("data.torrent", "data", &[]);
    let command = format!(
        "MT_RUNTIME_DIR={} {} get data.torrent copy --bind 127.0.0.1 -p 0 --peer {} --timeout 45",
        env.path(".mt-get-runtime").display(),
        crate::common::MT,
        seed.addr
    );
    let out = env.run_program("script", &["-qec", &command, "/dev/null"]);
    out.expect_code(0);
    assert!(out.stdout.contains("done:"), "{out:#?}");
    // indicatif's default style draws `░` and raw byte counts; ours draws `=>` and units.
    assert!(!out.stdout.contains('░'), "an unstyled bar was drawn: {out:#?}");
}
