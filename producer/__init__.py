"""The message bus: contract, RabbitMQ topology, confirmed publishing, and the producer service."""
