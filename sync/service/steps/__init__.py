"""The steps of a sync cycle, one module each, every one ``run(ctx, outbox) -> StepResult``.

In cycle order: resend_pending, recheck_open_orders, poll_new_orders, square_create,
square_cancellations, square_follow, google_cancellations, feed (bootstrap.default_steps lists
them). A step hands results on as data (intents recorded for a later step, the Settled answers),
never by calling another step.
"""
