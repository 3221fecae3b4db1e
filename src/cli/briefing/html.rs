//! The briefing as one self-contained HTML document: inline CSS, no scripts, fonts or images
//! from elsewhere, so it opens on an intranet without internet access and prints as is.

use super::doc::Block;
use super::text::Lang;

const STYLE: &str = "body{font-family:\"Noto Sans CJK SC\",\"Source Han Sans SC\",\"Microsoft YaHei\",\"PingFang SC\",sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.6;color:#1a1a1a}\
h1{font-size:1.6rem;border-bottom:2px solid #8b1a1a;padding-bottom:.3rem}\
h2{font-size:1.2rem;margin-top:1.8rem;color:#8b1a1a}\
table{border-collapse:collapse;margin:.8rem 0;width:100%}\
th,td{border:1px solid #ccc;padding:.3rem .6rem}\
th{background:#f4f0ec;text-align:left}\
td:not(:first-child){text-align:right;font-variant-numeric:tabular-nums}\
@media print{body{margin:0}}";

/// Escapes text for element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn render(doc: &[Block], lang: Lang) -> String {
    let title = doc
        .iter()
        .find_map(|b| match b {
            Block::Title(t) => Some(t.as_str()),
            _ => None,
        })
        .unwrap_or_default();
    let mut body = String::new();
    for block in doc {
        match block {
            Block::Title(t) => body.push_str(&format!("<h1>{}</h1>\n", escape(t))),
            Block::Heading(h) => body.push_str(&format!("<h2>{}</h2>\n", escape(h))),
            Block::Paragraph(p) => body.push_str(&format!("<p>{}</p>\n", escape(p))),
            Block::Table { header, rows } => {
                body.push_str("<table>\n<thead><tr>");
                for h in header {
                    body.push_str(&format!("<th>{}</th>", escape(h)));
                }
                body.push_str("</tr></thead>\n<tbody>\n");
                for row in rows {
                    body.push_str("<tr>");
                    for c in row {
                        body.push_str(&format!("<td>{}</td>", escape(c)));
                    }
                    body.push_str("</tr>\n");
                }
                body.push_str("</tbody>\n</table>\n");
            }
        }
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        lang.code(),
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_nothing_is_loaded_from_elsewhere() {
        let doc = [
            Block::Title("A <b> & \"c\"".into()),
            Block::Paragraph("<script>".into()),
        ];
        let html = render(&doc, Lang::En);
        assert!(html.contains("A &lt;b&gt; &amp; &quot;c&quot;"));
        assert!(!html.contains("<script>"));
        for external in ["src=", "href=", "@import", "url("] {
            assert!(!html.contains(external), "{external}");
        }
    }
}
