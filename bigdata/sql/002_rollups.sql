-- 002: the rollups the analytics users ask for, as views over the raw tables.
-- They read with FINAL, so they are exact under at-least-once delivery (a
-- pre-aggregating materialized view would count a replayed insert twice: in
-- 18.16 it fires on every insert, before the ReplacingMergeTree merges).

-- What did we spend, on what, for whom: cost per tenant/provider/model/day.
CREATE VIEW IF NOT EXISTS aion.cost_daily AS
SELECT
    day, tenant, provider, model,
    count()                  AS calls,
    sum(u_prompt)            AS prompt_tokens,
    sum(u_completion)        AS completion_tokens,
    sum(u_cost)              AS cost_nano_usd,
    toDecimal64(sum(u_cost), 9) / 1000000000 AS cost_usd,
    sum(u_estimated)         AS estimated_calls
FROM
(
    -- renamed: 18.16 resolves a name to the outer alias before the column
    SELECT day, tenant, provider, model, prompt_tokens AS u_prompt, completion_tokens AS u_completion,
           cost_nano_usd AS u_cost, estimated AS u_estimated
    FROM aion.usage FINAL
)
GROUP BY day, tenant, provider, model;

-- One row per finished task: its outcome, the route that ran it and its
-- end-to-end latency (first event to done).
CREATE VIEW IF NOT EXISTS aion.task_outcomes AS
SELECT
    task_id,
    any(e_tenant)                             AS tenant,
    any(e_intent)                             AS intent,
    any(e_privacy)                            AS privacy,
    argMaxIf(e_route, e_seq, e_route != '')   AS route,
    argMaxIf(e_class, e_seq, e_route != '')   AS route_class,
    anyIf(e_status, e_type = 'done')          AS outcome,
    minIf(e_ts, e_seq = 1)                    AS submitted_ms,
    maxIf(e_ts, e_type = 'done')              AS finished_ms,
    toDateTime(intDiv(maxIf(e_ts, e_type = 'done'), 1000)) AS finished_at,
    maxIf(e_ts, e_type = 'done') - minIf(e_ts, e_seq = 1)  AS latency_ms,
    maxIf(e_queue, e_type = 'done')           AS queue_ms,
    maxIf(e_run, e_type = 'done')             AS run_ms
FROM
(
    SELECT task_id, tenant AS e_tenant, intent AS e_intent, privacy AS e_privacy, route AS e_route,
           route_class AS e_class, status AS e_status, type AS e_type, seq AS e_seq, ts_ms AS e_ts,
           queue_ms AS e_queue, run_ms AS e_run
    FROM aion.task_events FINAL
)
GROUP BY task_id
HAVING countIf(e_type = 'done') > 0 AND countIf(e_seq = 1) > 0;

-- How fast was it: latency quantiles per route and hour.
CREATE VIEW IF NOT EXISTS aion.latency_hourly AS
SELECT
    toStartOfHour(finished_at)  AS hour,
    route,
    route_class,
    count()                     AS tasks,
    quantileExact(0.5)(latency_ms)  AS p50_ms,
    quantileExact(0.95)(latency_ms) AS p95_ms,
    quantileExact(0.99)(latency_ms) AS p99_ms,
    max(latency_ms)             AS max_ms
FROM aion.task_outcomes
GROUP BY hour, route, route_class;

-- Task outcomes per intent (and day).
CREATE VIEW IF NOT EXISTS aion.outcomes_daily AS
SELECT
    toDate(finished_at)  AS day,
    intent,
    outcome,
    count()              AS tasks
FROM aion.task_outcomes
GROUP BY day, intent, outcome;

-- Module usage: tasks run by each local module per day (Superset's module chart).
CREATE VIEW IF NOT EXISTS aion.module_usage_daily AS
SELECT
    toDate(finished_at)           AS day,
    substring(route, 8)           AS module,
    count()                       AS tasks,
    countIf(outcome = 'succeeded') AS succeeded
FROM aion.task_outcomes
WHERE startsWith(route, 'module:')
GROUP BY day, module;
