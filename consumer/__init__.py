"""Running jobs: the AMQP loop with N slots, one job's life in a sandboxed container, and clean-up."""
