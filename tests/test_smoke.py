def test_store_opens_and_appends(store, conversation_id):
    message = store.append_message(conversation_id, role="user", content="hello")
    assert message.seq == 1
    assert store.get_conversation(conversation_id).message_count == 1


def test_uuid7_many_are_unique_ordered_and_version_7():
    from parloir.ids import uuid7, uuid7_many, uuid7_time_ms

    ids = [uuid7(), *uuid7_many(5000), uuid7()]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(i.version == 7 and i.variant == "specified in RFC 4122" for i in ids)
    assert uuid7_time_ms(ids[-1]) >= uuid7_time_ms(ids[0])
