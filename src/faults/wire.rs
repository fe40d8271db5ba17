//! HTTP/1.1 framing for the gate's pass path ([`super::relay`]): reads a request head and
//! writes the head that goes upstream, reads an answer's head and writes the head that
//! goes back, and follows a chunked body to its end. Only the common shape of a worker's
//! request is taken here (HTTP/1.1, origin form, a body of known length or none); any
//! other ([`Parsed::Unusual`]) is left to the full gate, hyper's server, which knows
//! every corner of the protocol.

use std::mem::MaybeUninit;

use hyper::Method;

/// Headers a head may carry here (hyper's own limit); a head with more is unusual.
const MAX_HEADERS: usize = 100;

/// A head longer than this is unusual (hyper answers a request's, 431 past its limit).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// What the start of a buffer holds.
#[derive(Debug, PartialEq)]
pub enum Parsed<T> {
    Complete(T),
    /// Not all of the head has arrived yet.
    Partial,
    /// A head the pass path does not take (see the module's doc), or not HTTP at all.
    Unusual,
}

/// A worker's request head, as the pass path needs it.
#[derive(Debug, PartialEq)]
pub struct RequestHead {
    /// The head's length in bytes (the body, if any, follows).
    pub len: usize,
    pub method: Method,
    pub path: String,
    /// The body's length (0 without one).
    pub content_length: u64,
    /// The worker asked to close the connection after this answer.
    pub close: bool,
}

/// Reads a request head at the start of `buf`. On [`Parsed::Complete`], `upstream_head`
/// holds the head to send upstream: the same request line, in HTTP/1.1, and the same
/// headers but the hop-by-hop ones (RFC 9110 §7.6.1: the fixed ones and those that
/// `connection` names) and the worker's `host`, which is replaced by the upstream's.
pub fn parse_request(buf: &[u8], host: &[u8], upstream_head: &mut Vec<u8>) -> Parsed<RequestHead> {
    // Left uninitialised: httparse fills only the slots a head uses. Writing all
    // hundred (3 KiB) for every request made this the largest item of a lane's own CPU
    // under a worker's load (perf: 5.7 % of the lane, 3.9 % without).
    let mut headers = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let len = match request.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD_BYTES => len,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD_BYTES => return Parsed::Partial,
        _ => return Parsed::Unusual,
    };
    // HTTP/1.0 (its keep-alive rules), the absolute and asterisk forms, and CONNECT go
    // to hyper.
    let (Some(method), Some(path), Some(1)) = (request.method, request.path, request.version)
    else {
        return Parsed::Unusual;
    };
    // httparse lets through bytes a URI may not hold, which hyper refuses (400): the
    // answer must not depend on which of the two serves the request.
    if !path.starts_with('/') || method == "CONNECT" || path.bytes().any(not_in_uri) {
        return Parsed::Unusual;
    }
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return Parsed::Unusual;
    };
    upstream_head.clear();
    upstream_head.extend_from_slice(method.as_str().as_bytes());
    upstream_head.push(b' ');
    upstream_head.extend_from_slice(path.as_bytes());
    upstream_head.extend_from_slice(b" HTTP/1.1\r\n");
    let mut content_length = None;
    let mut close = false;
    let named = connection_tokens(request.headers);
    for header in request.headers.iter() {
        let name = header.name;
        let is = |known: &str| name.eq_ignore_ascii_case(known);
        if named
            .iter()
            .any(|token| token.eq_ignore_ascii_case(name.as_bytes()))
        {
            continue;
        }
        if is("content-length") {
            // Two lengths, or one that is not a number: hyper decides what to answer.
            let (None, Some(length)) = (content_length, decimal(header.value)) else {
                return Parsed::Unusual;
            };
            content_length = Some(length);
        } else if is("transfer-encoding") || is("expect") || is("upgrade") {
            // A chunked body, `100-continue` and protocol switches are hyper's.
            return Parsed::Unusual;
        } else if is("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"upgrade") {
                    return Parsed::Unusual;
                }
                close |= token.eq_ignore_ascii_case(b"close");
            }
            continue;
        } else if is("keep-alive")
            || is("proxy-connection")
            || is("te")
            || is("trailer")
            || is("host")
        {
            continue;
        }
        write_header(upstream_head, name.as_bytes(), header.value);
    }
    write_header(upstream_head, b"host", host);
    upstream_head.extend_from_slice(b"\r\n");
    Parsed::Complete(RequestHead {
        len,
        method,
        path: path.to_string(),
        content_length: content_length.unwrap_or(0),
        close,
    })
}

impl RequestHead {
    /// A method that changes nothing at ES (RFC 9110 §9.2.1): sent twice, it does no harm.
    pub fn is_safe(&self) -> bool {
        [Method::GET, Method::HEAD, Method::OPTIONS].contains(&self.method)
    }
}

/// Bytes the pass path leaves to hyper in a path and query: controls and space, those
/// hyper's URI parser refuses (`"<>\^`{|}`), `#` (hyper cuts the fragment off), and
/// anything past ASCII (rare enough to leave to hyper's judgement).
fn not_in_uri(byte: u8) -> bool {
    // A table, not a search of the set for each byte of the path: that search was most
    // of reading a worker's request (benches/gate_wire.rs).
    NOT_IN_URI[byte as usize]
}

static NOT_IN_URI: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = byte <= b' ' as usize || byte >= 0x7f;
        byte += 1;
    }
    let refused = b"\"#<>\\^`{|}";
    let mut i = 0;
    while i < refused.len() {
        table[refused[i] as usize] = true;
        i += 1;
    }
    table
};

/// Headers a `connection` list never removes: the message's framing, its target and the
/// connection's own handling are read from them first, so dropping them would let a
/// sender change where a message ends.
const NEVER_NAMED_AWAY: [&str; 6] = [
    "content-length",
    "transfer-encoding",
    "host",
    "expect",
    "upgrade",
    "connection",
];

/// The header names `connection` lists, which are hop-by-hop too (RFC 9110 §7.6.1), but
/// for [`NEVER_NAMED_AWAY`].
fn connection_tokens<'h>(headers: &[httparse::Header<'h>]) -> Vec<&'h [u8]> {
    headers
        .iter()
        .filter(|header| header.name.eq_ignore_ascii_case("connection"))
        .flat_map(|header| header.value.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|token| {
            !token.is_empty()
                && !NEVER_NAMED_AWAY
                    .iter()
                    .any(|kept| token.eq_ignore_ascii_case(kept.as_bytes()))
        })
        .collect()
}

/// How an answer's body ends (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Framing {
    /// No body: an answer to HEAD, a 204 or a 304.
    Empty,
    Length(u64),
    Chunked,
    /// When the upstream closes the connection.
    UntilClose,
}

/// An answer's head from upstream.
#[derive(Debug, PartialEq)]
pub struct ResponseHead {
    pub len: usize,
    pub status: u16,
    pub framing: Framing,
    /// The upstream connection ends after this answer.
    pub upstream_closes: bool,
    /// The worker's connection ends after this answer (the worker asked, or the body
    /// ends only when the connection does).
    pub worker_closes: bool,
}

/// An answer's head, or an interim one (1xx) the pass path skips.
#[derive(Debug, PartialEq)]
pub enum Answer {
    Final(ResponseHead),
    /// A `100 Continue` or other interim answer of this many bytes: the final one follows.
    Interim(usize),
}

/// Reads the answer's head at the start of `buf`. On a final answer, `worker_head` holds
/// the head to send back: ES's status line and headers but the hop-by-hop ones (the
/// body's framing passes as it is, `transfer-encoding` with it), and `connection: close`
/// when the worker's connection ends after it. `worker_asked_close`: the worker's request
/// said `connection: close`. A malformed answer, or a switch of protocols the request
/// never asked for, is [`Parsed::Unusual`].
pub fn parse_response(
    buf: &[u8],
    method: &Method,
    worker_asked_close: bool,
    worker_head: &mut Vec<u8>,
) -> Parsed<Answer> {
    let mut headers = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut headers,
    ) {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD_BYTES => len,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD_BYTES => return Parsed::Partial,
        _ => return Parsed::Unusual,
    };
    let (Some(status), Some(version)) = (response.code, response.version) else {
        return Parsed::Unusual;
    };
    // A status under 100 (httparse takes "001") is one hyper refuses: the answer must
    // not depend on which of the two passes it on.
    if status == 101 || status < 100 {
        return Parsed::Unusual;
    }
    if (100..200).contains(&status) {
        return Parsed::Complete(Answer::Interim(len));
    }
    let mut content_length = None;
    let mut chunked = None;
    let mut upstream_closes = version == 0;
    for header in response.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            // Repeated, or a list, the same length each time is one length (RFC 9110
            // §8.6); two different ones leave the body's end unknown.
            for value in header.value.split(|&b| b == b',') {
                match (content_length, decimal(value)) {
                    (_, None) => return Parsed::Unusual,
                    (Some(known), Some(length)) if known != length => return Parsed::Unusual,
                    (_, length) => content_length = length,
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked when chunked is the last coding applied.
            let last = header.value.rsplit(|&b| b == b',').next().unwrap_or(b"");
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    upstream_closes = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && version == 0 {
                    upstream_closes = false;
                }
            }
        }
    }
    let framing = if *method == Method::HEAD || status == 204 || status == 304 {
        Framing::Empty
    } else {
        match (chunked, content_length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) => Framing::UntilClose,
            (None, Some(length)) => Framing::Length(length),
            (None, None) => Framing::UntilClose,
        }
    };
    let worker_closes = worker_asked_close || framing == Framing::UntilClose;
    let named = connection_tokens(response.headers);
    worker_head.clear();
    // `itoa` (hyper's own) writes numbers without allocating: this runs for every answer.
    let mut digits = itoa::Buffer::new();
    worker_head.extend_from_slice(b"HTTP/1.1 ");
    worker_head.extend_from_slice(digits.format(status).as_bytes());
    worker_head.push(b' ');
    worker_head.extend_from_slice(response.reason.unwrap_or("").as_bytes());
    worker_head.extend_from_slice(b"\r\n");
    for header in response.headers.iter() {
        let name = header.name;
        let hop_by_hop = [
            "connection",
            "keep-alive",
            "proxy-connection",
            "te",
            "trailer",
            "upgrade",
        ]
        .iter()
        .any(|hop| name.eq_ignore_ascii_case(hop))
            || named
                .iter()
                .any(|token| token.eq_ignore_ascii_case(name.as_bytes()));
        // The length is written once below, as one number.
        let length = name.eq_ignore_ascii_case("content-length");
        if !hop_by_hop && !length {
            write_header(worker_head, name.as_bytes(), header.value);
        }
    }
    // With a transfer coding the length is not the body's: a proxy removes it (RFC 9112
    // §6.3), or a client that reads it would take the wrong end. A repeated or listed
    // length goes on as one, which every client reads alike.
    if let (None, Some(length)) = (chunked, content_length) {
        write_header(
            worker_head,
            b"content-length",
            digits.format(length).as_bytes(),
        );
    }
    if worker_closes {
        write_header(worker_head, b"connection", b"close");
    }
    worker_head.extend_from_slice(b"\r\n");
    Parsed::Complete(Answer::Final(ResponseHead {
        len,
        status,
        framing,
        upstream_closes,
        worker_closes,
    }))
}

fn write_header(head: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    head.extend_from_slice(name);
    head.extend_from_slice(b": ");
    head.extend_from_slice(value);
    head.extend_from_slice(b"\r\n");
}

/// A `content-length` value: decimal digits only (RFC 9110 §8.6).
fn decimal(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Follows a chunked body (RFC 9112 §7.1) as it passes through, byte for byte, to find
/// where it ends; the bytes themselves are not changed. Lines end in CRLF, strictly: a
/// body the gate reads one way must not be read another way by the worker.
#[derive(Debug, Default)]
pub struct Chunked {
    state: ChunkState,
}

#[derive(Debug)]
enum ChunkState {
    /// In a chunk's size line: the size so far and whether it has a digit yet.
    Size(u64, bool),
    /// In a chunk extension, after the size.
    Extension(u64),
    /// After the size line's CR.
    SizeLf(u64),
    /// Inside a chunk's data: bytes left.
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the empty line ending the body).
    TrailerStart,
    TrailerLine,
    TrailerLf,
    EndLf,
    Done,
}

impl Default for ChunkState {
    fn default() -> ChunkState {
        ChunkState::Size(0, false)
    }
}

/// What is left of an answer's body as it passes through.
#[derive(Debug)]
pub enum BodyLeft {
    Nothing,
    Bytes(u64),
    Chunked(Chunked),
    /// Whatever comes until ES closes.
    UntilClose,
}

impl BodyLeft {
    pub fn of(framing: Framing) -> BodyLeft {
        match framing {
            Framing::Empty => BodyLeft::Nothing,
            Framing::Length(length) => BodyLeft::Bytes(length),
            Framing::Chunked => BodyLeft::Chunked(Chunked::default()),
            Framing::UntilClose => BodyLeft::UntilClose,
        }
    }

    /// How many of `input`, the next bytes from ES, belong to the body (all of them
    /// unless it ends within them), taken off what is left.
    pub fn take(&mut self, input: &[u8]) -> Result<usize, Malformed> {
        match self {
            BodyLeft::Nothing => Ok(0),
            BodyLeft::Bytes(left) => {
                let taken = (*left).min(input.len() as u64);
                *left -= taken;
                Ok(taken as usize)
            }
            BodyLeft::Chunked(chunked) => chunked.follow(input),
            BodyLeft::UntilClose => Ok(input.len()),
        }
    }

    /// The body has ended (one that ends when ES closes never has before that).
    pub fn ended(&self) -> bool {
        match self {
            BodyLeft::Nothing => true,
            BodyLeft::Bytes(left) => *left == 0,
            BodyLeft::Chunked(chunked) => chunked.done(),
            BodyLeft::UntilClose => false,
        }
    }
}

/// A chunked body that breaks its framing.
#[derive(Debug, PartialEq)]
pub struct Malformed;

impl Chunked {
    /// Follows `input`, the next bytes of the body; returns how many of them belong to it
    /// (all of them unless it ended within them).
    pub fn follow(&mut self, input: &[u8]) -> Result<usize, Malformed> {
        let mut at = 0;
        while at < input.len() {
            if let ChunkState::Data(left) = self.state {
                let taken = left.min((input.len() - at) as u64);
                at += taken as usize;
                self.state = if taken == left {
                    ChunkState::DataCr
                } else {
                    ChunkState::Data(left - taken)
                };
                continue;
            }
            let byte = input[at];
            at += 1;
            self.state = match self.state {
                ChunkState::Size(size, digits) => match (byte as char).to_digit(16) {
                    Some(digit) => {
                        let size = size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(u64::from(digit)))
                            .ok_or(Malformed)?;
                        ChunkState::Size(size, true)
                    }
                    None if !digits => return Err(Malformed),
                    None => match byte {
                        b';' | b' ' | b'\t' => ChunkState::Extension(size),
                        b'\r' => ChunkState::SizeLf(size),
                        _ => return Err(Malformed),
                    },
                },
                ChunkState::Extension(size) => match byte {
                    b'\r' => ChunkState::SizeLf(size),
                    b'\n' => return Err(Malformed),
                    _ => ChunkState::Extension(size),
                },
                ChunkState::SizeLf(size) if byte == b'\n' => Chunked::after_size(size),
                ChunkState::DataCr if byte == b'\r' => ChunkState::DataLf,
                ChunkState::DataLf if byte == b'\n' => ChunkState::Size(0, false),
                ChunkState::TrailerStart => match byte {
                    b'\r' => ChunkState::EndLf,
                    b'\n' => return Err(Malformed),
                    _ => ChunkState::TrailerLine,
                },
                ChunkState::TrailerLine => match byte {
                    b'\r' => ChunkState::TrailerLf,
                    b'\n' => return Err(Malformed),
                    _ => ChunkState::TrailerLine,
                },
                ChunkState::TrailerLf if byte == b'\n' => ChunkState::TrailerStart,
                ChunkState::EndLf if byte == b'\n' => ChunkState::Done,
                ChunkState::Done => {
                    return Ok(at - 1);
                }
                _ => return Err(Malformed),
            };
            if matches!(self.state, ChunkState::Done) {
                return Ok(at);
            }
        }
        Ok(at)
    }

    pub fn done(&self) -> bool {
        matches!(self.state, ChunkState::Done)
    }

    fn after_size(size: u64) -> ChunkState {
        if size == 0 {
            ChunkState::TrailerStart
        } else {
            ChunkState::Data(size)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> (Parsed<RequestHead>, String) {
        let mut upstream = Vec::new();
        let parsed = parse_request(text.as_bytes(), b"es:9200", &mut upstream);
        (parsed, String::from_utf8(upstream).unwrap())
    }

    #[test]
    fn the_uri_table_refuses_exactly_controls_space_non_ascii_and_the_unsafe_marks() {
        for byte in 0..=255u8 {
            let refused = byte <= b' ' || byte >= 0x7f || b"\"#<>\\^`{|}".contains(&byte);
            assert_eq!(not_in_uri(byte), refused, "byte {byte:#04x}");
        }
    }

    #[test]
    fn an_answer_with_a_status_under_100_is_unusual() {
        let mut back = Vec::new();
        for head in [
            "HTTP/1.1 001 Odd\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 099 X\r\n\r\n",
        ] {
            let parsed = parse_response(head.as_bytes(), &Method::GET, false, &mut back);
            assert_eq!(parsed, Parsed::Unusual, "{head:?}");
        }
        let parsed = parse_response(
            b"HTTP/1.1 100 Continue\r\n\r\n",
            &Method::GET,
            false,
            &mut back,
        );
        assert_eq!(parsed, Parsed::Complete(Answer::Interim(25)));
    }

    #[test]
    fn status_and_length_are_written_whole() {
        for length in [0u64, 7, 10, 201, 65_536, u64::MAX] {
            let answer = format!("HTTP/1.1 201 Created\r\ncontent-length: {length}\r\n\r\n");
            let mut back = Vec::new();
            let parsed = parse_response(answer.as_bytes(), &Method::PUT, false, &mut back);
            assert!(
                matches!(parsed, Parsed::Complete(Answer::Final(_))),
                "{parsed:?}"
            );
            assert_eq!(
                String::from_utf8(back).unwrap(),
                format!("HTTP/1.1 201 Created\r\ncontent-length: {length}\r\n\r\n")
            );
        }
    }

    #[test]
    fn a_workers_put_goes_upstream_with_the_upstreams_host_and_no_hop_by_hop_headers() {
        let text = "PUT /idx/_doc/7?version=2 HTTP/1.1\r\nHost: gate:1\r\nContent-Type: application/json\r\nConnection: keep-alive, close\r\nKeep-Alive: timeout=5\r\ncontent-length: 11\r\n\r\n{\"a\":\"b\"}";
        let (parsed, upstream) = request(text);
        let Parsed::Complete(head) = parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(head.len, text.find("\r\n\r\n").unwrap() + 4);
        assert_eq!(
            (
                head.method,
                head.path.as_str(),
                head.content_length,
                head.close
            ),
            (Method::PUT, "/idx/_doc/7?version=2", 11, true)
        );
        assert_eq!(
            upstream,
            "PUT /idx/_doc/7?version=2 HTTP/1.1\r\nContent-Type: application/json\r\ncontent-length: 11\r\nhost: es:9200\r\n\r\n"
        );
    }

    #[test]
    fn a_head_in_pieces_is_partial_until_it_is_whole() {
        let text = "GET /_cluster/health HTTP/1.1\r\nhost: x\r\n\r\n";
        for cut in 1..text.len() {
            assert_eq!(request(&text[..cut]).0, Parsed::Partial, "cut at {cut}");
        }
        assert!(
            matches!(request(text).0, Parsed::Complete(h) if h.content_length == 0 && !h.close)
        );
    }

    #[test]
    fn requests_outside_the_common_shape_are_left_to_hyper() {
        for text in [
            "GET / HTTP/1.0\r\n\r\n",
            "GET http://es:9200/ HTTP/1.1\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\n\r\n",
            "CONNECT es:9200 HTTP/1.1\r\n\r\n",
            "PUT / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
            "PUT / HTTP/1.1\r\nexpect: 100-continue\r\ncontent-length: 1\r\n\r\n",
            "GET / HTTP/1.1\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n",
            "PUT / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\n",
            "PUT / HTTP/1.1\r\ncontent-length: -1\r\n\r\n",
            "PUT / HTTP/1.1\r\ncontent-length: 0x10\r\n\r\n",
            "NOT HTTP AT ALL\r\n\r\n",
        ] {
            assert_eq!(request(text).0, Parsed::Unusual, "{text:?}");
        }
        let endless = format!("GET / HTTP/1.1\r\nx: {}", "y".repeat(MAX_HEAD_BYTES));
        assert_eq!(request(&endless).0, Parsed::Unusual);
    }

    fn answer(text: &str, method: Method, close: bool) -> (Parsed<Answer>, String) {
        let mut back = Vec::new();
        let parsed = parse_response(text.as_bytes(), &method, close, &mut back);
        (parsed, String::from_utf8(back).unwrap())
    }

    #[test]
    fn a_head_with_as_many_headers_as_hyper_takes_passes_and_one_more_goes_to_hyper() {
        let head = |first: &str, count: usize| {
            let mut text = first.to_string();
            for index in 0..count {
                text.push_str(&format!("x-h{index}: {index}\r\n"));
            }
            text + "content-length: 0\r\n\r\n"
        };
        // content-length is one of the headers counted.
        let most = MAX_HEADERS - 1;
        let (parsed, upstream) = request(&head("PUT /i/_doc/1 HTTP/1.1\r\n", most));
        assert!(matches!(parsed, Parsed::Complete(_)), "{parsed:?}");
        assert!(upstream.contains(&format!("x-h{}: {}\r\n", most - 1, most - 1)));
        assert_eq!(
            request(&head("PUT /i/_doc/1 HTTP/1.1\r\n", most + 1)).0,
            Parsed::Unusual
        );
        let (parsed, back) = answer(&head("HTTP/1.1 200 OK\r\n", most), Method::PUT, false);
        assert!(
            matches!(parsed, Parsed::Complete(Answer::Final(_))),
            "{parsed:?}"
        );
        assert!(back.contains(&format!("x-h{}: {}\r\n", most - 1, most - 1)));
        assert!(matches!(
            answer(&head("HTTP/1.1 200 OK\r\n", most + 1), Method::PUT, false).0,
            Parsed::Unusual
        ));
    }

    /// The head the worker gets back for `text`, an answer to a GET on a kept connection.
    fn answer_head_back(text: &str) -> String {
        answer(text, Method::GET, false).1
    }

    fn framing(text: &str, method: Method) -> (Framing, bool, bool) {
        match answer(text, method, false).0 {
            Parsed::Complete(Answer::Final(head)) => {
                (head.framing, head.upstream_closes, head.worker_closes)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_answers_body_ends_as_rfc_9112_says() {
        use Framing::*;
        let get = || Method::GET;
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", get()),
            (Length(5), false, false)
        );
        assert_eq!(
            framing(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 5\r\n\r\n",
                get()
            ),
            (Chunked, false, false)
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n", get()),
            (UntilClose, false, true)
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\n\r\n", get()),
            (UntilClose, false, true)
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", Method::HEAD),
            (Empty, false, false)
        );
        assert_eq!(
            framing("HTTP/1.1 204 No Content\r\n\r\n", get()),
            (Empty, false, false)
        );
        assert_eq!(
            framing(
                "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
                get()
            ),
            (Length(0), true, false)
        );
        assert_eq!(
            framing("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n", get()),
            (Length(0), true, false)
        );
        assert_eq!(
            framing(
                "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n",
                get()
            ),
            (Length(0), false, false)
        );
    }

    #[test]
    fn the_answer_goes_back_without_hop_by_hop_headers_and_says_when_it_closes() {
        let (parsed, back) = answer(
            "HTTP/1.1 429 Too Many Requests\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive\r\nretry-after: 1\r\ncontent-length: 2\r\n\r\n{}",
            Method::PUT,
            true,
        );
        assert!(matches!(
            parsed,
            Parsed::Complete(Answer::Final(ResponseHead {
                status: 429,
                worker_closes: true,
                ..
            }))
        ));
        assert_eq!(
            back,
            "HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-length: 2\r\nconnection: close\r\n\r\n"
        );
        let interim = "HTTP/1.1 100 Continue\r\n\r\n";
        assert_eq!(
            answer(interim, Method::PUT, false).0,
            Parsed::Complete(Answer::Interim(interim.len()))
        );
        for text in [
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            "<html>",
        ] {
            assert_eq!(
                answer(text, Method::GET, false).0,
                Parsed::Unusual,
                "{text:?}"
            );
        }
    }

    #[test]
    fn connection_never_names_the_framing_away() {
        // A body's length stays where it is read from: no second request hides in it.
        let (parsed, upstream) = request(
            "PUT /a HTTP/1.1\r\nconnection: content-length, connection, close\r\ncontent-length: 4\r\n\r\nGET ",
        );
        assert!(matches!(
            parsed,
            Parsed::Complete(RequestHead {
                content_length: 4,
                close: true,
                ..
            })
        ));
        assert_eq!(
            upstream,
            "PUT /a HTTP/1.1\r\ncontent-length: 4\r\nhost: es:9200\r\n\r\n"
        );
        assert_eq!(
            answer_head_back(
                "HTTP/1.1 200 OK\r\nconnection: content-length, transfer-encoding\r\ncontent-length: 2\r\n\r\n"
            ),
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"
        );
    }

    #[test]
    fn headers_connection_names_are_dropped_both_ways() {
        let (parsed, upstream) =
            request("GET / HTTP/1.1\r\nconnection: x-hop, close\r\nx-hop: 1\r\nx-end: 2\r\n\r\n");
        assert!(matches!(
            parsed,
            Parsed::Complete(RequestHead { close: true, .. })
        ));
        assert_eq!(
            upstream,
            "GET / HTTP/1.1\r\nx-end: 2\r\nhost: es:9200\r\n\r\n"
        );
        assert_eq!(
            answer_head_back(
                "HTTP/1.1 200 OK\r\nconnection: x-hop\r\nx-hop: 1\r\ncontent-length: 0\r\n\r\n"
            ),
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
        );
    }

    #[test]
    fn a_chunked_answers_length_is_dropped_and_a_repeated_equal_length_is_one() {
        let (parsed, back) = answer(
            "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n",
            Method::GET,
            false,
        );
        assert!(matches!(
            parsed,
            Parsed::Complete(Answer::Final(ResponseHead {
                framing: Framing::Chunked,
                ..
            }))
        ));
        assert_eq!(
            back,
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        for text in [
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 2, 2\r\n\r\n",
        ] {
            assert_eq!(
                framing(text, Method::GET),
                (Framing::Length(2), false, false),
                "{text:?}"
            );
            assert_eq!(
                answer_head_back(text),
                "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"
            );
        }
        assert_eq!(
            answer(
                "HTTP/1.1 200 OK\r\ncontent-length: 2, 3\r\n\r\n",
                Method::GET,
                false
            )
            .0,
            Parsed::Unusual
        );
    }

    #[test]
    fn a_long_head_or_a_path_hyper_would_refuse_is_left_to_hyper() {
        let long = format!(
            "GET / HTTP/1.1\r\nx: {}\r\n\r\n",
            "y".repeat(MAX_HEAD_BYTES)
        );
        assert_eq!(request(&long).0, Parsed::Unusual);
        let long_answer = format!(
            "HTTP/1.1 200 OK\r\nx: {}\r\n\r\n",
            "y".repeat(MAX_HEAD_BYTES)
        );
        assert_eq!(answer(&long_answer, Method::GET, false).0, Parsed::Unusual);
        for path in [
            "/a\"b", "/a<b", "/a{b}", "/a|b", "/a^b", "/a`b", "/a\\b", "/a#b",
        ] {
            let text = format!("GET {path} HTTP/1.1\r\n\r\n");
            assert_eq!(request(&text).0, Parsed::Unusual, "{path}");
        }
    }

    #[test]
    fn a_chunked_body_is_followed_to_its_end_in_any_pieces() {
        let body = b"4;ext=1\r\nWiki\r\nA\r\n0123456789\r\n0\r\nx-trailer: y\r\n\r\n";
        let after = b"GET /next";
        let mut whole = body.to_vec();
        whole.extend_from_slice(after);
        let mut at_once = Chunked::default();
        assert_eq!(at_once.follow(&whole), Ok(body.len()));
        assert!(at_once.done());
        for piece in 1..whole.len() {
            let mut chunked = Chunked::default();
            let mut taken = 0;
            for part in whole.chunks(piece) {
                if chunked.done() {
                    break;
                }
                taken += chunked.follow(part).unwrap();
            }
            assert!(chunked.done(), "pieces of {piece}");
            assert_eq!(taken, body.len(), "pieces of {piece}");
        }
        let mut no_trailer = Chunked::default();
        assert_eq!(no_trailer.follow(b"0\r\n\r\n"), Ok(5));
        assert!(no_trailer.done());
    }

    #[test]
    fn a_chunked_body_that_breaks_its_framing_is_malformed() {
        for text in [
            &b"zz\r\n"[..],
            b"\r\n",
            b"2\r\nabX",
            b"ffffffffffffffffff\r\n",
            b"2\nab\r\n",
            b"2;x\nab\r\n",
            b"0\r\n\n",
            b"0\r\nx: y\n\r\n",
        ] {
            assert_eq!(Chunked::default().follow(text), Err(Malformed), "{text:?}");
        }
        let mut unfinished = Chunked::default();
        assert_eq!(unfinished.follow(b"5\r\nab"), Ok(5));
        assert!(!unfinished.done());
    }
}
