"""Reading the headers of the frames a client sends, to refuse a message that is too big.

twisted.web.websocket (Twisted 26.10) collects the frames of a message in memory and hands
the protocol the message once its last frame is in. It has no size limit: a client could
send gigabytes, and the protocol would hear of them only when all had arrived. So the
limit is checked in front of the module. Every frame starts with a header that says how
many bytes follow (RFC 6455, section 5.2), so, as web.py does with an HTTP body's
Content-Length, a message can be refused on its headers alone, before its bytes pile up.
"""

FIRST_CONTROL_OPCODE = 0x8
"""Close (8), ping (9) and pong (10) are control frames: never part of a message."""


class FrameReader:
    """Watches the bytes a client sends on their way to the WebSocket module.

    It reads each frame's header, skips its payload, and passes every byte on unchanged to
    the module's dataReceived, until a message grows past max_bytes: then it passes
    nothing more and calls the chat protocol's message_too_big with the size the headers
    announced.

    It keeps the two objects, not two of their bound methods (module.dataReceived, say):
    each bound method is an object of its own, and the two held ~120 bytes of every idle
    connection.
    """

    def __init__(self, max_bytes, module, chat):
        self.max_bytes = max_bytes
        self.module = module  # where the bytes go next: the module's wire protocol
        self.chat = chat  # the chat protocol, told when a message is too big
        self.header = b""  # the part of a frame header that has arrived so far
        self.payload_left = 0  # bytes of the current frame's payload still to come
        self.message_size = 0  # payload bytes of the current message, in all its frames
        self.refused = False

    def dataReceived(self, data):
        if self.refused:
            return  # the connection is closing; nothing more is read
        at = 0
        frame_start = 0  # where in data the frame being read began
        while at < len(data):
            if self.payload_left:
                skipped = min(self.payload_left, len(data) - at)
                self.payload_left -= skipped
                at += skipped
                continue
            if not self.header:
                frame_start = at
            self.header += data[at : at + 1]
            at += 1
            if len(self.header) == header_size(self.header):
                self.frame_header_read()
                if self.refused:
                    if frame_start:  # the frames before this one are fine
                        self.module.dataReceived(data[:frame_start])
                    self.chat.message_too_big(self.message_size)
                    return
        self.module.dataReceived(data)

    def frame_header_read(self):
        fin, opcode, size = read_header(self.header)
        self.header = b""
        self.payload_left = size
        if opcode >= FIRST_CONTROL_OPCODE:
            return
        self.message_size += size
        if self.message_size > self.max_bytes:
            self.refused = True
        elif fin:  # the message's last frame: the next frame starts a new message
            self.message_size = 0


def header_size(header):
    """The length of a frame header, from its first two bytes (None until they are in).

    Two bytes, then 2 or 8 more when the length does not fit in 7 bits, then the 4-byte
    mask that every frame from a client carries.
    """
    if len(header) < 2:
        return None
    extended = {126: 2, 127: 8}.get(header[1] & 0x7F, 0)
    mask = 4 if header[1] & 0x80 else 0
    return 2 + extended + mask


def read_header(header):
    """Whether a complete header ends its message (FIN), its opcode, and its payload size."""
    fin = bool(header[0] & 0x80)
    opcode = header[0] & 0x0F
    size = header[1] & 0x7F
    if size == 126:
        size = int.from_bytes(header[2:4], "big")
    elif size == 127:
        size = int.from_bytes(header[2:10], "big")
    return fin, opcode, size
