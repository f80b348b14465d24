//! multipart-mixed client (Nchan's `multipart-mixed` subscriber; push-server does not serve it):
//! `GET` the profile's path with `accept: multipart/mixed`, then one part per message out of a
//! body that runs until the server closes. Each part's `Last-Modified` and `Etag` are where a
//! reconnect resumes from (`resume = "cache-headers"`).

use bytes::Bytes;
use pushbench_wire::multipart::PartParser;
use pushbench_wire::Transport;

use super::{stream_session, Client, ClientError, Shared, State, StreamParser};
use crate::http1::{Head, Validators};

#[derive(Default)]
struct Parser {
    /// Made from the answer's boundary once its head has come.
    parts: Option<PartParser>,
    /// The last part's validators.
    last: Validators,
}

impl StreamParser for Parser {
    fn head(&mut self, head: &Head) -> Result<(), ClientError> {
        let boundary = head.boundary.as_deref().ok_or_else(|| {
            ClientError::undecodable(
                "the answer's content-type is not multipart with a boundary",
                b"",
            )
        })?;
        self.parts = Some(PartParser::new(boundary));
        Ok(())
    }

    fn push(
        &mut self,
        data: &[u8],
        _ends: &[usize],
        out: &mut Vec<Bytes>,
    ) -> Result<(), ClientError> {
        let parts = self.parts.as_mut().expect("the head comes first");
        parts.push(data);
        while let Some(part) = parts
            .next_part()
            .map_err(|e| ClientError::undecodable(e, data))?
        {
            if part.etag.is_some() || part.last_modified.is_some() {
                self.last = Validators {
                    last_modified: part.last_modified,
                    etag: part.etag,
                };
            }
            out.push(part.body);
        }
        Ok(())
    }

    fn validators(&self) -> Option<&Validators> {
        (self.last.etag.is_some() || self.last.last_modified.is_some()).then_some(&self.last)
    }
}

/// One multipart stream, resuming from the last part's validators.
pub async fn session(shared: &Shared, client: &Client, st: &mut State) -> Result<(), ClientError> {
    stream_session(
        shared,
        st,
        Transport::MultipartMixed,
        &client.topic,
        Parser::default(),
    )
    .await
}
