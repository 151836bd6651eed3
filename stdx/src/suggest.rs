//! "Did you mean": the names closest to a mistyped one.

/// Up to three names close to `word`, closest first: a small edit distance
/// for its length, or the same name in another case, or one that starts
/// with it.
pub fn suggestions<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let lower = word.to_lowercase();
    let length = lower.chars().count();
    let limit = (length / 3).max(1);
    // A notebook may offer thousands of cell names: the best three are kept
    // as they come, and the edit distance, which is the costly part, is
    // skipped where the lengths alone put a name too far.
    let mut best: Vec<(usize, &str)> = Vec::with_capacity(4);
    for candidate in candidates {
        if candidate == word {
            continue;
        }
        let prefix = lower.len() >= 2 && starts_with_lowercase(candidate, &lower);
        // The edit distance is at least the difference in length.
        let far = candidate.chars().count().abs_diff(length) > limit;
        let score = if far {
            if !prefix {
                continue;
            }
            limit
        } else {
            let d = strsim::damerau_levenshtein(&lower, &candidate.to_lowercase());
            if d > limit && !prefix {
                continue;
            }
            d.min(limit)
        };
        if best.iter().any(|&(_, b)| b == candidate) {
            continue;
        }
        let at = best.partition_point(|&b| b < (score, candidate));
        if at < 3 {
            best.insert(at, (score, candidate));
            best.truncate(3);
        }
    }
    best.into_iter().map(|(_, c)| c.to_owned()).collect()
}

/// Whether `candidate`, lowercased, starts with `lower`.
fn starts_with_lowercase(candidate: &str, lower: &str) -> bool {
    let mut chars = candidate.chars().flat_map(char::to_lowercase);
    lower.chars().all(|l| chars.next() == Some(l))
}

#[cfg(test)]
mod tests {
    use super::suggestions;

    #[test]
    fn close_names_are_suggested_closest_first() {
        let known = ["prometheus", "http", "jq", "echo"];
        assert_eq!(suggestions("promethues", known), ["prometheus"]);
        assert_eq!(suggestions("htp", known), ["http"]);
        assert_eq!(suggestions("Echo", known), ["echo"]);
        assert!(suggestions("kubernetes", known).is_empty());
    }
}
