//! Header lookups that give the same answers as `HeaderMap::get`.

// `HeaderMap::get` hashes the name it is given, which for the custom names these layers read
// (`x-retry-attempt`, `grpc-previous-rpc-attempts`, `grpc-timeout`, ...) means hashing every
// byte of a long name on every request. Most requests carry only a handful of headers, and
// most of those have standard names, which compare unequal to a custom name at once; so for a
// small map a scan is cheaper than a hash.

use http::{HeaderMap, HeaderName, HeaderValue};

/// Up to this many distinct names, [`get`] scans instead of hashing.
const SCAN_UP_TO: usize = 8;

/// The first value of `name` in `headers`, as `HeaderMap::get` gives it.
#[inline]
pub(crate) fn get<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    if headers.keys_len() <= SCAN_UP_TO {
        // Entries come in insertion order and each name's first value comes first, so the
        // first match is the value `get` would return.
        headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    } else {
        headers.get(name)
    }
}

/// The first values of two names, in one scan of a small map: [`get`] for each.
#[inline]
pub(crate) fn get_two<'a>(
    headers: &'a HeaderMap,
    a: &HeaderName,
    b: &HeaderName,
) -> (Option<&'a HeaderValue>, Option<&'a HeaderValue>) {
    if headers.keys_len() <= SCAN_UP_TO {
        let (mut first, mut second) = (None, None);
        for (k, v) in headers {
            if first.is_none() && k == a {
                first = Some(v);
            }
            if second.is_none() && k == b {
                second = Some(v);
            }
        }
        (first, second)
    } else {
        (headers.get(a), headers.get(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{ACCEPT, HOST};

    fn map(n: usize) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HOST, "example".parse().unwrap());
        for i in 0..n {
            let name = HeaderName::from_bytes(format!("x-filler-{i}").as_bytes()).unwrap();
            h.insert(name, i.to_string().parse().unwrap());
        }
        h
    }

    #[test]
    fn agrees_with_header_map_get_on_small_and_large_maps() {
        let wanted = HeaderName::from_static("x-retry-attempt");
        for n in [0, 3, SCAN_UP_TO - 2, SCAN_UP_TO, SCAN_UP_TO + 5] {
            let mut h = map(n);
            assert_eq!(get(&h, &wanted), None, "{n} fillers, absent");
            assert_eq!(get(&h, &ACCEPT), None);
            h.append(wanted.clone(), "2".parse().unwrap());
            h.append(wanted.clone(), "3".parse().unwrap());
            assert_eq!(get(&h, &wanted), h.get(&wanted), "{n} fillers, first value");
            assert_eq!(get(&h, &wanted).unwrap(), "2");
            assert_eq!(get(&h, &HOST).unwrap(), "example");
            let other = HeaderName::from_static("x-other");
            assert_eq!(get_two(&h, &wanted, &HOST), (h.get(&wanted), h.get(HOST)));
            assert_eq!(get_two(&h, &HOST, &wanted), (h.get(HOST), h.get(&wanted)));
            assert_eq!(get_two(&h, &other, &wanted), (None, h.get(&wanted)));
            assert_eq!(get_two(&h, &wanted, &other), (h.get(&wanted), None));
            assert_eq!(get_two(&h, &other, &ACCEPT), (None, None));
            assert_eq!(
                get_two(&h, &wanted, &wanted),
                (h.get(&wanted), h.get(&wanted))
            );
        }
    }
}
