//! Virtual path arithmetic. A virtual path is an absolute, normalised byte
//! string (`/`, `/a/b`) as the client sees it; `/` is the user's home.

/// Apply the components of `rel` to the component stack `stack`:
/// empty components and `.` vanish, `..` pops (never below the root).
fn apply<'a>(stack: &mut Vec<&'a [u8]>, rel: &'a [u8]) {
    for c in rel.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                stack.pop();
            }
            _ => stack.push(c),
        }
    }
}

/// Build `/a/b` from a component stack (`/` when empty).
fn build(stack: &[&[u8]]) -> Vec<u8> {
    if stack.is_empty() {
        return b"/".to_vec();
    }
    let len = stack.iter().map(|c| c.len() + 1).sum();
    let mut out = Vec::with_capacity(len);
    for c in stack {
        out.push(b'/');
        out.extend_from_slice(c);
    }
    out
}

/// Normalise any byte string as an absolute virtual path.
fn normalize(p: &[u8]) -> Vec<u8> {
    let mut stack = Vec::new();
    apply(&mut stack, p);
    build(&stack)
}

/// Resolve a client argument against the current directory: absolute
/// arguments replace `cwd`, `.` and empty components vanish, `..` pops one
/// component and never goes above `/`. The result is normalised (no trailing
/// slash except for `/` itself).
pub fn resolve(cwd: &[u8], arg: &[u8]) -> Vec<u8> {
    let mut stack = Vec::new();
    if !arg.starts_with(b"/") {
        apply(&mut stack, cwd);
    }
    apply(&mut stack, arg);
    build(&stack)
}

/// The parent of a normalised virtual path (`/` for `/` itself).
pub fn parent(p: &[u8]) -> Vec<u8> {
    let mut stack = Vec::new();
    apply(&mut stack, p);
    stack.pop();
    build(&stack)
}

/// The last component of a normalised virtual path (empty for `/`).
pub fn file_name(p: &[u8]) -> &[u8] {
    components(p).last().unwrap_or(b"")
}

/// Join a normalised directory and one name component.
///
/// The name is applied like a relative path (so `.`/`..`/`/` inside it can
/// never lead above `/`); a plain name simply gets appended.
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut stack = Vec::new();
    apply(&mut stack, dir);
    apply(&mut stack, name);
    build(&stack)
}

/// Whether `p` is `base` or lies below it (component-wise, so `/ab` is not below `/a`).
pub fn is_within(base: &[u8], p: &[u8]) -> bool {
    let base = normalize(base);
    let p = normalize(p);
    let base: Vec<&[u8]> = components(&base).collect();
    let p: Vec<&[u8]> = components(&p).collect();
    p.starts_with(&base)
}

/// The components of a normalised path (none for `/`).
pub(crate) fn components(p: &[u8]) -> impl Iterator<Item = &[u8]> {
    p.split(|&b| b == b'/').filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests;
