-- A small hand-made warehouse for the marts tests (docs/marts.md). The as-of date of the tests is
-- D = 2026-11-10; timestamps are UTC. Users 101..104; anonymous ids anon-a1..anon-a6:
--   anon-a1  user 101's browser before signup (identify at signup)
--   anon-a5  one device linked to 101 (11-04) and later to 102 (11-09): the earliest link, 101, wins; its page
--            view at 08:20 joins 101's events of 08:00 and 08:45 into one session
--   anon-a2  two page views before 102 signed up; linked only by a late identify the tests add (11-11)
--   anon-a3  102's signup device; anon-a4 103's; anon-a6 never identified
-- The events and their load batches are in conftest.py (EVENTS), loaded the way the stream loader loads them.

insert into staging.onboarding_steps (id, key, name, sort_order, is_required, created_at, updated_at) values
    (1, 'verify_email', 'Verify your email', 1, true, '2025-11-01', '2025-11-01'),
    (2, 'complete_profile', 'Complete your profile', 2, false, '2025-11-01', '2025-11-01'),
    (3, 'set_up_workspace', 'Set up your workspace', 3, true, '2025-11-01', '2025-11-01'),
    (4, 'invite_teammates', 'Invite your teammates', 4, false, '2025-11-01', '2025-11-01'),
    (5, 'create_first_project', 'Create your first project', 5, true, '2025-11-01', '2025-11-01'),
    (6, 'connect_integration', 'Connect an integration', 6, false, '2025-11-01', '2025-11-01'),
    (7, 'import_data', 'Import your data', 7, false, '2025-11-01', '2025-11-01'),
    (8, 'customize_dashboard', 'Customize your dashboard', 8, false, '2025-11-01', '2025-11-01');

insert into staging.users (id, email, full_name, phone, ip_address, country_code, locale, signup_source, utm_campaign,
                           referral_code, referred_by_code, device_type, os, browser, plan, status, marketing_opt_in,
                           email_verified_at, signed_up_at, last_seen_at, created_at, updated_at) values
    (101, 'ada@example.com', 'Ada Lovelace', '+44 20 7946 0000', '203.0.113.7', 'DE', 'de-DE', 'paid_search', 'spring_launch',
     'REF101', null, 'desktop', 'windows', 'chrome', 'pro', 'active', true,
     '2026-11-03 10:10+00', '2026-11-03 10:00+00', '2026-11-11 13:00+00', '2026-11-03 10:00+00', '2026-11-11 13:00+00'),
    (102, 'grace@example.com', 'Grace Hopper', null, '203.0.113.8', 'US', 'en-US', 'organic', null,
     'REF102', 'REF101', 'mobile', 'ios', 'safari', 'free', 'active', false,
     null, '2026-11-09 09:00+00', '2026-11-10 10:00+00', '2026-11-09 09:00+00', '2026-11-10 10:00+00'),
    (103, 'katherine@example.com', 'Katherine Johnson', null, null, 'FR', 'fr-FR', 'referral', null,
     'REF103', null, 'tablet', 'android', 'chrome', 'free', 'churned', false,
     null, '2026-11-10 23:30+00', '2026-11-10 23:55+00', '2026-11-10 23:30+00', '2026-11-10 23:55+00'),
    (104, 'margaret@example.com', 'Margaret Hamilton', null, null, 'GB', 'en-GB', 'content', 'autumn_webinar',
     'REF104', null, 'desktop', 'macos', 'firefox', 'free', 'active', true,
     '2026-11-12 08:10+00', '2026-11-12 08:00+00', '2026-11-12 08:06+00', '2026-11-12 08:00+00', '2026-11-12 08:06+00');

insert into staging.workspaces (id, owner_user_id, name, industry, company_size, created_at, updated_at) values
    (1, 101, 'Analytical Engines', 'software', '2-10', '2026-11-03 10:00+00', '2026-11-03 10:00+00'),
    (2, 102, 'Compilers Inc', 'software', '11-50', '2026-11-09 09:00+00', '2026-11-09 09:00+00'),
    (3, 103, 'Orbits', 'aerospace', '1', '2026-11-10 23:30+00', '2026-11-10 23:30+00'),
    (4, 104, 'Apollo', 'aerospace', '51-200', '2026-11-12 08:00+00', '2026-11-12 08:00+00');

insert into staging.workspace_members (id, workspace_id, user_id, role, joined_at, created_at, updated_at) values
    (1, 1, 101, 'owner', '2026-11-03 10:00+00', '2026-11-03 10:00+00', '2026-11-03 10:00+00'),
    (2, 1, 102, 'member', '2026-11-06 09:00+00', '2026-11-06 09:00+00', '2026-11-06 09:00+00'),
    (3, 2, 102, 'owner', '2026-11-09 09:00+00', '2026-11-09 09:00+00', '2026-11-09 09:00+00'),
    (4, 3, 103, 'owner', '2026-11-10 23:30+00', '2026-11-10 23:30+00', '2026-11-10 23:30+00'),
    (5, 4, 104, 'owner', '2026-11-12 08:00+00', '2026-11-12 08:00+00', '2026-11-12 08:00+00');

insert into staging.invitations (id, workspace_id, inviter_user_id, invitee_email, status, accepted_user_id, sent_at,
                                 accepted_at, created_at, updated_at) values
    (1, 1, 101, 'grace@example.com', 'accepted', 102, '2026-11-05 12:05+00', '2026-11-06 09:00+00', '2026-11-05 12:05+00', '2026-11-06 09:00+00'),
    (2, 1, 101, 'alan@example.com', 'accepted', null, '2026-11-10 12:30+00', '2026-11-11 08:00+00', '2026-11-10 12:30+00', '2026-11-11 08:00+00'),
    (3, 2, 102, 'edsger@example.com', 'pending', null, '2026-11-11 09:00+00', null, '2026-11-11 09:00+00', '2026-11-11 09:00+00');

-- (user, step): started and completed; the funnel's rows in the comments (entered_on, cohort week, step)
insert into staging.user_onboarding_progress (id, user_id, step_id, status, started_at, completed_at, created_at, updated_at) values
    (1, 101, 1, 'completed', '2026-11-03 10:05+00', '2026-11-03 10:10+00', '2026-11-03 10:05+00', '2026-11-03 10:10+00'),     -- 11-03, 11-02
    (2, 101, 2, 'completed', '2026-11-04 09:00+00', '2026-11-10 12:00+00', '2026-11-04 09:00+00', '2026-11-10 12:00+00'),     -- 11-04, 11-02
    (3, 101, 3, 'completed', '2026-11-10 08:00+00', '2026-11-11 09:00+00', '2026-11-10 08:00+00', '2026-11-11 09:00+00'),     -- completed after D
    (4, 101, 4, 'skipped', '2026-11-10 08:30+00', null, '2026-11-10 08:30+00', '2026-11-10 08:40+00'),
    (5, 102, 1, 'completed', '2026-11-09 09:05+00', '2026-11-09 09:06+00', '2026-11-09 09:05+00', '2026-11-09 09:06+00'),     -- 11-09, 11-09
    (6, 102, 2, 'in_progress', '2026-11-09 09:10+00', null, '2026-11-09 09:10+00', '2026-11-09 09:10+00'),
    (7, 102, 3, 'completed', '2026-11-10 09:00+00', '2026-11-10 10:00+00', '2026-11-10 09:00+00', '2026-11-10 10:00+00'),     -- 11-10, 11-09: 2 entered
    (8, 103, 1, 'completed', '2026-11-10 23:40+00', '2026-11-11 00:10+00', '2026-11-10 23:40+00', '2026-11-11 00:10+00'),     -- 23:40 UTC is 11-10
    (9, 103, 3, 'in_progress', '2026-11-10 23:50+00', null, '2026-11-10 23:50+00', '2026-11-10 23:50+00'),                    -- 11-10, 11-09: 2 entered
    (10, 104, 1, 'completed', '2026-11-12 08:05+00', '2026-11-12 08:06+00', '2026-11-12 08:05+00', '2026-11-12 08:06+00');

insert into staging.subscriptions (id, user_id, workspace_id, plan, status, billing_interval, seats, mrr_cents, currency,
                                   started_at, ended_at, cancel_reason, created_at, updated_at) values
    (1, 101, 1, 'free', 'superseded', null, 1, 0, 'USD', '2026-11-03 10:00+00', '2026-11-08 12:00+00', null, '2026-11-03 10:00+00', '2026-11-08 12:00+00'),
    (2, 101, 1, 'starter', 'superseded', 'month', 1, 1200, 'USD', '2026-11-08 12:00+00', '2026-11-11 12:00+00', null, '2026-11-08 12:00+00', '2026-11-11 12:00+00'),
    (3, 101, 1, 'pro', 'active', 'month', 2, 5800, 'USD', '2026-11-11 12:00+00', null, null, '2026-11-11 12:00+00', '2026-11-11 12:00+00'),
    (4, 102, 2, 'free', 'active', null, 1, 0, 'USD', '2026-11-09 09:00+00', null, null, '2026-11-09 09:00+00', '2026-11-09 09:00+00'),
    (5, 103, 3, 'free', 'canceled', null, 1, 0, 'USD', '2026-11-10 23:30+00', '2026-11-10 23:55+00', 'too_expensive', '2026-11-10 23:30+00', '2026-11-10 23:55+00'),
    (6, 104, 4, 'free', 'active', null, 1, 0, 'USD', '2026-11-12 08:00+00', null, null, '2026-11-12 08:00+00', '2026-11-12 08:00+00');

insert into staging.feature_usage (id, user_id, workspace_id, feature, usage_count, first_used_at, last_used_at, created_at, updated_at) values
    (1, 101, 1, 'dashboards', 3, '2026-11-05 12:00+00', '2026-11-11 13:00+00', '2026-11-05 12:00+00', '2026-11-11 13:00+00'),
    (2, 101, 1, 'reports', 1, '2026-11-10 12:20+00', '2026-11-10 12:20+00', '2026-11-10 12:20+00', '2026-11-10 12:20+00'),
    (3, 103, 3, 'projects', 1, '2026-11-11 00:05+00', '2026-11-11 00:05+00', '2026-11-11 00:05+00', '2026-11-11 00:05+00');

update staging.onboarding_steps set _cdc_commit_ts = '2026-11-11 14:00+00';
update staging.users set _cdc_commit_ts = updated_at;
