//! DNS messages on the wire (hickory-proto): a query for one name and type, and the decoding
//! of a reply into the engine's terms; DNS over TCP frames each message with its length.

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::engine::dns::DnsRecordType;
use crate::engine::dnscheck::{DnsAnswer, DnsQuestion, DnsRcode, DnsReply, normalise};

pub(crate) fn record_type(kind: DnsRecordType) -> RecordType {
    match kind {
        DnsRecordType::A => RecordType::A,
        DnsRecordType::AAAA => RecordType::AAAA,
        DnsRecordType::SRV => RecordType::SRV,
        DnsRecordType::CNAME => RecordType::CNAME,
    }
}

/// A recursive query with `id` for `question` (the name is absolute).
pub fn query(id: u16, question: &DnsQuestion) -> Result<Vec<u8>, String> {
    let name = Name::from_ascii(format!("{}.", question.name))
        .map_err(|err| format!("{}: not a DNS name: {err}", question.name))?;
    let mut message = Message::query();
    message.metadata.id = id;
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name, record_type(question.record_type)));
    message.to_vec().map_err(|err| err.to_string())
}

/// One answer record in the engine's terms (A, AAAA, CNAME, SRV; others are left out).
fn answer(record: &hickory_proto::rr::Record) -> Option<DnsAnswer> {
    let (record_type, value) = match &record.data {
        RData::A(address) => (DnsRecordType::A, address.0.to_string()),
        RData::AAAA(address) => (DnsRecordType::AAAA, address.0.to_string()),
        RData::CNAME(target) => (DnsRecordType::CNAME, normalise(&target.0.to_ascii())),
        RData::SRV(srv) => (
            DnsRecordType::SRV,
            format!("{} {}", srv.port, normalise(&srv.target.to_ascii())),
        ),
        _ => return None,
    };
    Some(DnsAnswer {
        name: normalise(&record.name.to_ascii()),
        record_type,
        value,
        ttl: record.ttl,
    })
}

/// Decodes a reply to the query with `id`.
pub fn reply(id: u16, bytes: &[u8]) -> DnsReply {
    let message = match Message::from_vec(bytes) {
        Ok(message) => message,
        Err(err) => {
            return DnsReply::Failed {
                reason: format!("the answer is not DNS: {err}"),
            };
        }
    };
    if message.metadata.id != id {
        return DnsReply::Failed {
            reason: format!(
                "the answer is to another query (id {} for {id})",
                message.metadata.id
            ),
        };
    }
    DnsReply::Answered {
        rcode: DnsRcode::from_code(u16::from(message.metadata.response_code)),
        truncated: message.metadata.truncation,
        answers: message.answers.iter().filter_map(answer).collect(),
    }
}

/// Writes one length-prefixed message (DNS over TCP, RFC 1035 4.2.2).
pub async fn write_framed(
    stream: &mut (impl AsyncWrite + Unpin),
    message: &[u8],
) -> std::io::Result<()> {
    let length = u16::try_from(message.len())
        .map_err(|_| std::io::Error::other("a DNS message over 65535 bytes"))?;
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(message);
    stream.write_all(&framed).await?;
    stream.flush().await
}

/// Reads one length-prefixed message.
pub async fn read_framed(stream: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Vec<u8>> {
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).await?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut message).await?;
    Ok(message)
}
