//! `vitals matrix`: prints an agent's `GET /v1/reachability` as a grid (up to 64
//! members) or as per-observer counts, then every unreachable pair with its class.

use std::fmt::Write as _;

use vitals_agent::api::Reachability;

/// The matrix as text: the grid (rows are observers, columns the members they hear, by
/// number: `h` heard, `x` not heard, `.` no word, `-` itself), or the counts beyond 64
/// members; then the unreachable pairs.
pub(crate) fn render(m: &Reachability) -> String {
    let mut out = String::new();
    if m.full {
        let width = m.members.iter().map(String::len).max().unwrap_or(0);
        let numbers: String = (0..m.members.len()).map(|i| format!("{:>3}", i % 1000)).collect();
        let _ = writeln!(out, "{:>width$}     {numbers}", "", width = width);
        for (i, row) in m.rows.iter().enumerate() {
            let cells: String = row.cells.chars().map(|c| format!("{c:>3}")).collect();
            let _ = writeln!(out, "{:>width$} {i:>3} {cells}", row.observer, width = width);
        }
    } else {
        let _ = writeln!(out, "{} members: per-observer counts only", m.observers.len());
        for o in m.observers.iter().filter(|o| o.unheard > 0) {
            let _ = writeln!(out, "{}  hears {}, not {}", o.observer, o.heard, o.unheard);
        }
    }
    if m.unreachable_total == 0 {
        let _ = writeln!(out, "\nevery member hears every other");
        return out;
    }
    let _ = writeln!(out, "\n{} unreachable pair(s):", m.unreachable_total);
    for u in &m.unreachable {
        let _ = writeln!(out, "  {} does not hear {}: {}", u.observer, u.target, u.class.as_str());
    }
    let listed = m.unreachable.len() as u64;
    if m.unreachable_total > listed {
        let _ = writeln!(out, "  ... and {} more", m.unreachable_total - listed);
    }
    for (label, names) in [("node down", &m.node_down), ("sick observer", &m.sick_observers)] {
        if !names.is_empty() {
            let _ = writeln!(out, "{label}: {}", names.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitals_agent::api::{Class, MatrixRow, Unreachable};

    #[test]
    fn a_grid_then_the_classified_pairs() {
        let row = |observer: &str, cells: &str| MatrixRow {
            observer: observer.into(),
            cells: cells.into(),
            rtt_ms: Vec::new(),
        };
        let m = Reachability {
            full: true,
            members: vec!["a".into(), "b".into()],
            rows: vec![row("a", "-x"), row("b", "h-")],
            unreachable: vec![Unreachable {
                observer: "a".into(),
                target: "b".into(),
                class: Class::LinkDown,
            }],
            unreachable_total: 1,
            ..Reachability::default()
        };
        let text = render(&m);
        assert!(text.contains("a   0   -  x"), "{text}");
        assert!(text.contains("a does not hear b: link down"), "{text}");
    }
}
