//! A tiny tree printer with box-drawing characters, in the style of `tree` and `cargo tree`:
//! every child is prefixed by `├── ` or `└── `, and its own children by `│   ` or four spaces.

use std::io::{self, Write};

/// One line of the tree and the lines below it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeNode {
    pub text: String,
    pub children: Vec<TreeNode>,
}

impl TreeNode {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            children: Vec::new(),
        }
    }

    /// Adds a child and returns it, for building nested levels.
    pub fn child(&mut self, text: impl Into<String>) -> &mut TreeNode {
        self.children.push(TreeNode::new(text));
        let last = self.children.len() - 1;
        &mut self.children[last]
    }

    pub fn push(&mut self, node: TreeNode) {
        self.children.push(node);
    }

    /// Writes the node as the root line, then its children indented beneath it.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", self.text)?;
        write_children(out, &self.children, &mut String::new())
    }
}

fn write_children(
    out: &mut dyn Write,
    children: &[TreeNode],
    prefix: &mut String,
) -> io::Result<()> {
    for (position, child) in children.iter().enumerate() {
        let last = position + 1 == children.len();
        let (branch, indent) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        writeln!(out, "{prefix}{branch}{}", child.text)?;
        let length = prefix.len();
        prefix.push_str(indent);
        write_children(out, &child.children, prefix)?;
        prefix.truncate(length);
    }
    Ok(())
}

/// Pads the cells of rows to common column widths (counted in characters), separated by two
/// spaces; the last cell of a row is not padded.
pub fn align(rows: &[Vec<String>]) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (column, cell) in row.iter().enumerate() {
            if column + 1 < row.len() {
                widths[column] = widths[column].max(visible_width(cell));
            }
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (column, cell) in row.iter().enumerate() {
                if column > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if column + 1 < row.len() {
                    let padding = widths[column].saturating_sub(visible_width(cell));
                    line.extend(std::iter::repeat_n(' ', padding));
                }
            }
            line.trim_end().to_owned()
        })
        .collect()
}

/// Characters on screen, ignoring ANSI colour sequences (`ESC [ ... m`).
pub fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for rest in chars.by_ref() {
                if rest == 'm' {
                    break;
                }
            }
        } else {
            width += 1;
        }
    }
    width
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(node: &TreeNode) -> String {
        let mut out = Vec::new();
        node.write(&mut out).expect("in memory");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn draws_rails_like_tree() {
        let mut root = TreeNode::new("root");
        let a = root.child("a");
        a.child("a1");
        a.child("a2").child("a2x");
        root.child("b").child("b1");
        assert_eq!(
            render(&root),
            "root\n├── a\n│   ├── a1\n│   └── a2\n│       └── a2x\n└── b\n    └── b1\n"
        );
    }

    #[test]
    fn aligns_columns_by_visible_width() {
        let rows = vec![
            vec![
                "a".to_owned(),
                "\u{1b}[31mred\u{1b}[0m".to_owned(),
                "x".to_owned(),
            ],
            vec!["long".to_owned(), "b".to_owned(), "y".to_owned()],
        ];
        assert_eq!(
            align(&rows),
            vec![
                "a     \u{1b}[31mred\u{1b}[0m  x".to_owned(),
                "long  b    y".to_owned()
            ]
        );
    }
}
