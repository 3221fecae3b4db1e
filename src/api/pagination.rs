//! Opaque page tokens: the position to resume after, bound to the request's filter so a token
//! cannot be replayed against a different query.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const DEFAULT_PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: usize = 1000;

pub struct Page {
    pub size: usize,
    /// Resume strictly after this position (an index into the ordered result).
    pub offset: usize,
    fingerprint: String,
}

impl Page {
    /// # Errors
    /// INVALID_ARGUMENT for a negative page size or a token that is malformed or was issued
    /// for another query.
    pub fn parse(page_size: i32, page_token: &str, filter: &str) -> Result<Self> {
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n < 0 => return Err(Error::invalid("page_size", "must not be negative")),
            n => (n as usize).min(MAX_PAGE_SIZE),
        };
        let fingerprint = fingerprint(filter);
        let offset = if page_token.is_empty() {
            0
        } else {
            decode(page_token, &fingerprint).ok_or_else(|| {
                Error::invalid("page_token", "is malformed or belongs to a different query")
            })?
        };
        Ok(Self {
            size,
            offset,
            fingerprint,
        })
    }

    /// The items of this page and the token for the next one (empty on the last page).
    pub fn slice<T>(&self, items: Vec<T>) -> (Vec<T>, String) {
        let total = items.len();
        let page: Vec<T> = items
            .into_iter()
            .skip(self.offset)
            .take(self.size)
            .collect();
        (page, self.next_token(total))
    }

    /// The page's first position and its size, for items paged where they are kept.
    pub fn window(&self) -> (usize, usize) {
        (self.offset, self.size)
    }

    /// The token for the page after this one among `total` items (empty on the last page).
    pub fn next_token(&self, total: usize) -> String {
        let end = self.offset.saturating_add(self.size).min(total);
        if end < total {
            URL_SAFE_NO_PAD.encode(format!("{}:{end}", self.fingerprint))
        } else {
            String::new()
        }
    }
}

impl Page {
    /// The token that resumes after `position` (a row sequence number, for lists read page by
    /// page from the database).
    pub fn token_after(&self, position: Option<i64>) -> String {
        match position {
            Some(p) => URL_SAFE_NO_PAD.encode(format!("{}:{p}", self.fingerprint)),
            None => String::new(),
        }
    }

    /// The position a database-read page resumes after.
    pub fn after(&self) -> i64 {
        i64::try_from(self.offset).unwrap_or(i64::MAX)
    }
}

fn fingerprint(filter: &str) -> String {
    hex::encode(&Sha256::digest(filter.as_bytes())[..8])
}

fn decode(token: &str, fingerprint: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (print, offset) = text.split_once(':')?;
    (print == fingerprint).then_some(())?;
    offset.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_all_pages_and_ends_with_an_empty_token() {
        let items: Vec<u32> = (0..25).collect();
        let mut token = String::new();
        let mut seen = Vec::new();
        loop {
            let page = Page::parse(10, &token, "f").unwrap();
            let (chunk, next) = page.slice(items.clone());
            seen.extend(chunk);
            if next.is_empty() {
                break;
            }
            token = next;
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn rejects_tokens_from_another_query() {
        let (_, next) = Page::parse(1, "", "a").unwrap().slice(vec![1, 2]);
        assert!(Page::parse(1, &next, "b").is_err());
        assert!(Page::parse(1, "garbage", "a").is_err());
        assert!(Page::parse(-1, "", "a").is_err());
    }
}
