#!/usr/bin/env python3
"""Replays what the notifications failure queue holds (docs/RUNBOOK.md).

The stream mapping's on-failure destination receives no records, only where they were: the
stream, the shard and the first and last sequence numbers of the batch it gave up on. This script
reads each message, reads those records back from the table's stream (possible only while the
stream keeps them: 24 h), hands them to the notifications function's `live` alias as the same
Lambda event the mapping would have sent, and deletes the message once the function answered
with no failed record. A message whose records are gone, or that fails again, stays in the queue
(visible again after the visibility timeout) and is reported.

Replays are safe: every e-mail is guarded by its sent-marker (`NOTIFIED#<eventID>`), so a record
already handled sends nothing again; records the handler does not act on are ignored.

    .venv/bin/python scripts/replay_stream_failures.py --stack tenantry-prod --dry-run
    .venv/bin/python scripts/replay_stream_failures.py --stack tenantry-prod

Uses your AWS credentials and region (AWS_PROFILE / AWS_REGION); needs cloudformation:
DescribeStackResource, sqs:ReceiveMessage / DeleteMessage on the queue, dynamodb:GetShardIterator /
GetRecords on the stream and lambda:InvokeFunction on the function. boto3 is in the project's
.venv (infra/requirements.txt).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from datetime import datetime

import boto3

QUEUE = "NotificationsFailureQueue"
FUNCTION = "NotificationsFunction"
ALIAS = "live"


def attribute(value):
    """A stream attribute value as the Lambda event carries it (binary in base64)."""
    if isinstance(value, dict):
        return {k: attribute(v) for k, v in value.items()}
    if isinstance(value, list):
        return [attribute(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return value


def lambda_record(record: dict, stream_arn: str) -> dict:
    """A GetRecords record (API shape) as a record of the Lambda event for a DynamoDB stream."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = int(created.timestamp())
    for image in ("Keys", "NewImage", "OldImage"):
        if image in change:
            change[image] = attribute(change[image])
    out = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": record.get("eventSource", "aws:dynamodb"),
        "awsRegion": record.get("awsRegion"),
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }
    identity = record.get("userIdentity")
    if identity:
        # The API says PrincipalId / Type; the Lambda event (and the handler) principalId / type.
        out["userIdentity"] = {"type": identity.get("Type"), "principalId": identity.get("PrincipalId")}
    return out


def batch_records(streams, info: dict) -> list[dict]:
    """The records from startSequenceNumber to endSequenceNumber of the message's shard."""
    start, end = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
    iterator = streams.get_shard_iterator(
        StreamArn=info["streamArn"],
        ShardId=info["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=info["startSequenceNumber"],
    )["ShardIterator"]
    records: list[dict] = []
    empty_reads = 0
    while iterator and empty_reads < 5:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        iterator = page.get("NextShardIterator")
        if not page["Records"]:
            empty_reads += 1
            continue
        for record in page["Records"]:
            sequence = int(record["dynamodb"]["SequenceNumber"])
            if sequence > end:
                return records
            if sequence >= start:
                records.append(lambda_record(record, info["streamArn"]))
        if int(page["Records"][-1]["dynamodb"]["SequenceNumber"]) >= end:
            break
    return records


def physical_id(cloudformation, stack: str, logical_id: str) -> str:
    return cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId=logical_id)[
        "StackResourceDetail"
    ]["PhysicalResourceId"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="the stack, e.g. tenantry-prod")
    parser.add_argument("--dry-run", action="store_true", help="read and report, invoke nothing, delete nothing")
    parser.add_argument("--max-messages", type=int, default=100)
    args = parser.parse_args()

    session = boto3.Session()
    cloudformation = session.client("cloudformation")
    queue_url = physical_id(cloudformation, args.stack, QUEUE)
    function = physical_id(cloudformation, args.stack, FUNCTION)
    sqs, streams, lam = session.client("sqs"), session.client("dynamodbstreams"), session.client("lambda")

    seen = replayed = kept = 0
    # Received messages stay invisible for 5 minutes, so this loop does not read one twice; a dry
    # run makes them visible again at the end.
    held: list[str] = []
    while seen < args.max_messages:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300, WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            seen += 1
            held.append(message["ReceiptHandle"])
            body = json.loads(message["Body"])
            info = body.get("DDBStreamBatchInfo")
            if not info:
                print(f"{message['MessageId']}: not a stream failure record, left in the queue")
                kept += 1
                continue
            label = f"{message['MessageId']} ({info['shardId']} {info['startSequenceNumber']}..{info['endSequenceNumber']}, {info.get('batchSize')} record(s), {body.get('requestContext', {}).get('condition')})"
            try:
                records = batch_records(streams, info)
            except streams.exceptions.TrimmedDataAccessException:
                print(f"{label}: the stream no longer holds these records (over 24 h); left in the queue")
                kept += 1
                continue
            except streams.exceptions.ResourceNotFoundException:
                print(f"{label}: the stream or shard is gone; left in the queue")
                kept += 1
                continue
            if args.dry_run:
                names = ", ".join(f"{r['eventName']} {r['eventID']}" for r in records)
                print(f"{label}: would replay {len(records)} record(s): {names}")
                continue
            answer = lam.invoke(
                FunctionName=function,
                Qualifier=ALIAS,
                Payload=json.dumps({"Records": records}).encode(),
            )
            payload = json.loads(answer["Payload"].read() or b"{}")
            failures = payload.get("batchItemFailures", []) if isinstance(payload, dict) else []
            if answer.get("FunctionError") or failures:
                print(f"{label}: failed again ({answer.get('FunctionError') or failures}); left in the queue")
                kept += 1
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            replayed += 1
            print(f"{label}: replayed {len(records)} record(s), message deleted")
    if args.dry_run:
        for handle in held:
            sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    print(f"{seen} message(s) read, {replayed} replayed and deleted, {kept} left in the queue")
    return 1 if kept else 0


if __name__ == "__main__":
    sys.exit(main())
