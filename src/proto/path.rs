//! Virtual path arithmetic. A virtual path is an absolute, normalised byte
//! string (`/`, `/a/b`) as the client sees it; `/` is the user's home.

/// Resolve a client argument against the current directory: absolute
/// arguments replace `cwd`, `.` and empty components vanish, `..` pops one
/// component and never goes above `/`. The result is normalised (no trailing
/// slash except for `/` itself).
pub fn resolve(cwd: &[u8], arg: &[u8]) -> Vec<u8> {
    let _ = (cwd, arg);
    todo!("proto helper")
}

/// The parent of a normalised virtual path (`/` for `/` itself).
pub fn parent(p: &[u8]) -> Vec<u8> {
    let _ = p;
    todo!("proto helper")
}

/// The last component of a normalised virtual path (empty for `/`).
pub fn file_name(p: &[u8]) -> &[u8] {
    let _ = p;
    todo!("proto helper")
}

/// Join a normalised directory and one name component.
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let _ = (dir, name);
    todo!("proto helper")
}

/// Whether `p` is `base` or lies below it (component-wise, so `/ab` is not below `/a`).
pub fn is_within(base: &[u8], p: &[u8]) -> bool {
    let _ = (base, p);
    todo!("proto helper")
}

/// The components of a normalised path (none for `/`).
pub fn components(p: &[u8]) -> impl Iterator<Item = &[u8]> {
    p.split(|&b| b == b'/').filter(|c| !c.is_empty())
}
