def test_store_opens_and_appends(store, conversation_id):
    message = store.append_message(conversation_id, role="user", content="hello")
    assert message.seq == 1
    assert store.get_conversation(conversation_id).message_count == 1
