-- A campaign analyst's first questions, over the audit stream landed by `redeem audit sink`.
-- Run all:  npm run -s redeem -- audit query --dir audit-lake --file examples/analyst-queries.sql
-- Each row of `decisions` is one decided source record (a redelivery's repeats are landed once);
-- `coupons`, `campaigns` and `coupon_decisions` read the coupon catalogue from MySQL (docs/analysts.md).

-- The day asked about: yesterday (UTC). Another day: SET VARIABLE day = DATE '2026-12-04';
SET VARIABLE day = current_date - 1;

-- 1. Redemptions per campaign per hour: applied redemptions, applied refunds, and net.
SELECT campaign_id,
       decided_hour AS hour,
       count(*) FILTER (WHERE op = 'REDEEM') AS redeemed,
       count(*) FILTER (WHERE op = 'REVERSE') AS refunded,
       count(*) FILTER (WHERE op = 'REDEEM') - count(*) FILTER (WHERE op = 'REVERSE') AS net
FROM decisions
WHERE decision = 'APPLIED' AND decided_date = getvariable('day')
GROUP BY ALL
ORDER BY campaign_id, hour;

-- 2. The users who hit the per-user limit most.
SELECT user_id,
       count(*) AS refused_at_limit,
       count(DISTINCT coupon_code) AS coupons
FROM decisions
WHERE reason = 'USER_LIMIT' AND decided_date = getvariable('day')
GROUP BY user_id
ORDER BY refused_at_limit DESC, user_id
LIMIT 20;

-- 3. How fast the coupons that ran out did so: from the first applied redemption to the first
--    EXHAUSTED refusal, by the requests' own time (occurred_at; the decision time for version-1 records).
SELECT coupon_code,
       any_value(campaign_id) AS campaign_id,
       count(*) FILTER (WHERE decision = 'APPLIED' AND op = 'REDEEM') AS redeemed,
       min(coalesce(occurred_at, decided_at)) FILTER (WHERE decision = 'APPLIED' AND op = 'REDEEM') AS first_redeemed,
       min(coalesce(occurred_at, decided_at)) FILTER (WHERE reason = 'EXHAUSTED') AS ran_out,
       date_diff('second', first_redeemed, ran_out) AS seconds_to_run_out
FROM decisions
WHERE decided_date = getvariable('day')
GROUP BY coupon_code
HAVING ran_out IS NOT NULL
ORDER BY seconds_to_run_out, coupon_code
LIMIT 20;

-- 4. Rejection reasons by campaign.
SELECT campaign_id, reason, count(*) AS rejected
FROM decisions
WHERE decision = 'REJECTED' AND decided_date = getvariable('day')
GROUP BY ALL
ORDER BY campaign_id, rejected DESC, reason;

-- 5. Each campaign's quota and what is used of it (the catalogue's view; all days).
SELECT c.campaign_id, c.coupons, c.quota, c.redeemed AS redeemed_now,
       round(100.0 * c.redeemed / nullif(c.quota, 0), 1) AS percent_used
FROM campaigns c
ORDER BY c.campaign_id;
