-- One loader publishes at a time: between finding the messageIds already loaded and COPYing the rest, no other
-- transaction may insert into raw.events (readers are not blocked). Released at commit.
lock table raw.events in share row exclusive mode
