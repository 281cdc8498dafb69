//! Zone files through the command line: import, export, the checkers of BIND and Knot.

use std::path::Path;

use crate::harness::*;

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn checkers_accept(dir: &Path, zone: &str, text: &str) {
    let file = dir.join("check.zone");
    std::fs::write(&file, text).unwrap();
    let f = file.to_str().unwrap();
    let out = tool("named-checkzone", &[zone, f]);
    assert!(
        out.status.success(),
        "named-checkzone: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = tool("kzonecheck", &["-o", zone, f]);
    assert!(
        out.status.success(),
        "kzonecheck: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn export_is_accepted_by_bind_and_knot_and_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for (zone, source) in [
        ("example.go.id", test_zone()),
        (
            "kaltaraprov.go.id",
            std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("zones/kaltaraprov.go.id.zone"),
            )
            .unwrap(),
        ),
    ] {
        // The source itself is a valid zone for both checkers.
        checkers_accept(dir, zone, &source);
        let file = dir.join(format!("{zone}.zone"));
        std::fs::write(&file, &source).unwrap();
        ok(&ranah_cli(dir, &["zone", "import", file.to_str().unwrap()]));
        let first = ok(&ranah_cli(dir, &["zone", "export", zone]));
        checkers_accept(dir, zone, &first);

        // import → export → import is a fixed point.
        let sub = dir.join(format!("again-{zone}"));
        std::fs::create_dir_all(&sub).unwrap();
        let again = sub.join(format!("{zone}.zone"));
        std::fs::write(&again, &first).unwrap();
        ok(&ranah_cli(
            &sub,
            &["zone", "import", again.to_str().unwrap()],
        ));
        let second = ok(&ranah_cli(&sub, &["zone", "export", zone]));
        assert_eq!(first, second, "export of the re-import differs");
    }
}

#[test]
fn export_keeps_txt_strings_and_quotes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let zone = "$ORIGIN t.example.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n\
                txt TXT \"two words\" \"and \\\"quotes\\\"\" ( \"split\"\n  \"over lines\" )\n";
    let file = dir.join("t.example.zone");
    std::fs::write(&file, zone).unwrap();
    ok(&ranah_cli(dir, &["zone", "import", file.to_str().unwrap()]));
    let out = ok(&ranah_cli(dir, &["zone", "export", "t.example."]));
    assert!(
        out.contains("\"two words\" \"and \\\"quotes\\\"\" \"split\" \"over lines\""),
        "{out}"
    );
    checkers_accept(dir, "t.example", &out);
}

#[test]
fn bad_zone_file_imports_nothing_and_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A new zone with an error on line 6: nothing is created.
    let bad =
        "$ORIGIN bad.example.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww 60 IN\n";
    let file = dir.join("bad.example.zone");
    std::fs::write(&file, bad).unwrap();
    let out = ranah_cli(dir, &["zone", "import", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.example.zone:6:"), "{err}");
    let out = ranah_cli(dir, &["zone", "export", "bad.example"]);
    assert!(!out.status.success(), "the zone must not exist");

    // An existing zone replaced by a file with an error late in it: the store is untouched.
    let good = test_zone();
    let file = dir.join("example.go.id.zone");
    std::fs::write(&file, &good).unwrap();
    ok(&ranah_cli(dir, &["zone", "import", file.to_str().unwrap()]));
    let before = ok(&ranah_cli(dir, &["zone", "export", "example.go.id"]));
    let broken = format!("{good}new1 A 203.0.113.77\nnew2 A 203.0.113.999\n");
    std::fs::write(&file, &broken).unwrap();
    let out = ranah_cli(
        dir,
        &["zone", "import", file.to_str().unwrap(), "--replace"],
    );
    assert!(!out.status.success());
    let line = broken.lines().count();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("example.go.id.zone:{line}:")),
        "{err}"
    );
    let after = ok(&ranah_cli(dir, &["zone", "export", "example.go.id"]));
    assert_eq!(before, after);
}
