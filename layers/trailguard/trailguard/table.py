"""The state table as the ledger and the inventory use it: a DynamoDB client made on first use, paginated
queries, and batch writes that never leave a write unprocessed silently."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any


class Table:
    """One DynamoDB table (partition key `pk`, sort key `sk`, both strings)."""

    def __init__(self, client: Callable[[], Any], table: str) -> None:
        """`client` makes the DynamoDB client when the table is first used (an event dropped before needs none)."""
        self._make = client
        self._made: Any = None
        self._table = table

    @property
    def _client(self) -> Any:
        if self._made is None:
            self._made = self._make()
        return self._made

    def _query(self, partition: str, prefix: str | None = None, **extra: Any) -> Iterator[dict[str, Any]]:
        """The items of one partition (those whose sort key starts with `prefix`), page after page. `values` in
        `extra` adds expression values (e.g. of a FilterExpression)."""
        condition = "pk = :pk" + (" AND begins_with(sk, :prefix)" if prefix else "")
        values: dict[str, Any] = {":pk": {"S": partition}, **extra.pop("values", {})}
        if prefix:
            values[":prefix"] = {"S": prefix}
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table, KeyConditionExpression=condition, ExpressionAttributeValues=values, **extra
        )
        for page in pages:
            yield from page.get("Items", [])

    def _write(self, requests: list[dict[str, Any]], what: str) -> None:
        """BatchWriteItem, 25 requests at a time, unprocessed ones sent again; raises if some are left: the caller
        must not believe kept what was not (Lambda retries the whole work)."""
        for start in range(0, len(requests), 25):
            batch = {self._table: requests[start : start + 25]}
            for _ in range(5):
                batch = self._client.batch_write_item(RequestItems=batch).get("UnprocessedItems") or {}
                if not batch:
                    break
            if batch:
                raise RuntimeError(f"the {what} kept {len(batch.get(self._table, []))} write(s) unprocessed")
