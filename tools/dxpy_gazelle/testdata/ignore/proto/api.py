from proto import msg_pb2
