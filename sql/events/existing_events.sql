-- The batch's messageIds (temp table event_ids) already in raw.events: a redelivery, or a repeat across batches.
select ids.message_id
from event_ids as ids
inner join raw.events as events on events.message_id = ids.message_id
