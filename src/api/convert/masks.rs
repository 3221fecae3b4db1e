//! AIP-134 update masks: the paths an update names.

use super::*;

/// The paths of an update mask, or `default` (the fields the message sets) when it is empty.
/// `*` stands for every path in `all`.
pub(super) fn mask_paths(
    mask: Option<&prost_types::FieldMask>,
    all: &[&'static str],
    default: Vec<&'static str>,
) -> Vec<String> {
    match mask.map(|m| m.paths.as_slice()) {
        None | Some([]) => default.into_iter().map(str::to_owned).collect(),
        Some(paths) if paths.iter().any(|p| p == "*") => {
            all.iter().map(|p| (*p).to_owned()).collect()
        }
        Some(paths) => paths.to_vec(),
    }
}

/// Records a path no update may name: immutable or unknown.
pub(super) fn refuse_path(v: &mut Violations, index: usize, path: &str, immutable: &[&str]) {
    let why = if immutable.contains(&path) {
        format!("{path:?} cannot be changed")
    } else {
        format!("{path:?} is not a field that can be updated")
    };
    v.add(format!("update_mask.paths[{index}]"), why);
}
