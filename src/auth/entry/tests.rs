use super::*;

#[test]
fn virtual_paths_stay_below_the_home() {
    assert_eq!(virtual_path(Path::new("a/b")).unwrap(), b"/a/b");
    assert_eq!(virtual_path(Path::new("./a")).unwrap(), b"/a");
    assert_eq!(virtual_path(Path::new("")).unwrap(), b"/");
    assert!(virtual_path(Path::new("../a")).is_err());
}

#[test]
fn a_second_override_of_a_directory_replaces_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let mut e = Entry::new("u", tmp.path(), "elr").unwrap();
    e.set_override(b"/d".to_vec(), Perms::all(), false);
    e.set_override(b"/d".to_vec(), Perms::NONE, true);
    let t = e.perm_table();
    assert_eq!(t.at(b"/d/x/y").resolve(|| true), Perms::NONE);
}
