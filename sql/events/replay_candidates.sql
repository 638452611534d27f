-- Pending dead letters matching dlq_replay's filters (a null filter matches every one), oldest first. Never those
-- whose payload is not a message the plan could pass as is (onramp.events.reasons.NOT_REPLAYABLE: cut, or the
-- loader's own).
select message_id, received_at, sent_at, source, payload, enrichment
from ops.dead_letters
where status = 'pending'
    and not reason_codes && %(not_replayable)s::text[]
    and (%(reason)s::text is null or %(reason)s::text = any(reason_codes))
    and (%(reason_like)s::text is null or exists (
        select 1 from unnest(reason_codes) as code where code like %(reason_like)s::text
    ))
    and (%(event_name)s::text is null or event_name = %(event_name)s::text)
    and (%(since)s::timestamptz is null or received_at >= %(since)s::timestamptz)
    and (%(until)s::timestamptz is null or received_at < %(until)s::timestamptz)
    and (%(schema_version)s::text is null or schema_version = %(schema_version)s::text)
order by received_at
limit %(limit)s
