// PacketDecode
