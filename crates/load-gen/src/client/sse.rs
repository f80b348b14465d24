//! SSE client: `GET /sse` with `accept: text/event-stream`; resumes the way `EventSource` does,
//! with `Last-Event-ID` on reconnects.

use bytes::Bytes;
use pushbench_wire::sse::{Event, EventParser};

use super::{stream_session, Client, ClientError, Shared, State, StreamParser};

struct Parser {
    inner: EventParser,
    events: Vec<Event>,
}

impl StreamParser for Parser {
    fn push(&mut self, data: &[u8], out: &mut Vec<Bytes>) {
        self.inner.push(data, &mut self.events);
        // Both `message` and `gap` events carry an envelope; the envelope says which it is.
        out.extend(self.events.drain(..).map(|e| Bytes::from(e.data)));
    }
}

/// One event stream.
pub async fn session(shared: &Shared, client: &Client, st: &mut State) -> Result<(), ClientError> {
    let after = st.resume_after();
    let id = after.to_string();
    let target = format!("/sse?topic={}&after=0", client.topic);
    let mut headers = vec![("accept", "text/event-stream")];
    if after > 0 {
        headers.push(("last-event-id", id.as_str()));
    }
    let parser = Parser {
        inner: EventParser::new(),
        events: Vec::new(),
    };
    stream_session(shared, st, &target, &headers, parser).await
}
