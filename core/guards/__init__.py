"""Guards: pure checks before a call — request validation, SDK shapes, token bounds, rate limits and buckets."""
