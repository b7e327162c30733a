-- enqueue: store a batch of jobs and put each in ready or delayed; the CLI
-- (sluice-producer) and sluice-bench run it with EVALSHA. The work is
-- enqueue_jobs in lib_enqueue.lua, which the function library
-- (sluice_enqueue, FCALL) runs too: see there for KEYS, ARGV and the reply.
-- include: lib_batch.lua
-- include: lib_enqueue.lua
return enqueue_jobs(KEYS, ARGV)
