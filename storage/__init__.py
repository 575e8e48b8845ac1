"""All persistent state: the database, the object store and the job-archive format."""
