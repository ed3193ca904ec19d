#!/usr/bin/env bash
# Prints what tshark says about a capture, for checking captures/README.md:
#     scripts/capture-facts.sh captures/pipelining.pcap [...]
# Per file: TCP conversations, every HTTP message (several per frame when
# pipelined), FIN/RST segments with their direction, and TCP keep-alive
# probes/ACKs. Remember tshark's known mistakes (HEAD and pipelining, 1xx
# matching, Expect bodies): see captures/README.md for the true answers.
set -euo pipefail
command -v tshark >/dev/null || { echo "capture-facts: tshark is needed (apt-get install tshark)" >&2; exit 1; }
for file in "$@"; do
    echo "######## $file"
    # Server ports (from the SYNs) are decoded as HTTP: a client port that is
    # registered for another protocol (44818 = EtherNet/IP) would hide HTTP.
    decode_as=()
    for port in $(tshark -r "$file" -n -Y 'tcp.flags.syn==1 and tcp.flags.ack==0' -T fields -e tcp.dstport 2>/dev/null | sort -u); do
        decode_as+=(-d "tcp.port==$port,http")
    done
    echo "## frames: $(tshark -r "$file" -n 2>/dev/null | wc -l)"
    echo "## TCP conversations"
    tshark -r "$file" -n -q -z conv,tcp 2>/dev/null | sed -n '/<->/p'
    echo "## HTTP messages (frame, rel.time, stream, src port, method, uri, status, Connection)"
    # desegment_body off: a HEAD response's Content-Length must not swallow the
    # responses after it (tshark 4.0 bug with pipelining).
    tshark -r "$file" -n "${decode_as[@]}" -o http.desegment_body:FALSE -Y 'http.request or http.response' -T fields -E occurrence=a -E aggregator='|' \
        -e frame.number -e frame.time_relative -e tcp.stream -e tcp.srcport \
        -e http.request.method -e http.request.uri -e http.response.code -e http.connection 2>/dev/null
    echo "## FIN/RST (frame, rel.time, stream, src port -> dst port, FIN, RST)"
    tshark -r "$file" -n -Y 'tcp.flags.fin==1 or tcp.flags.reset==1' -T fields \
        -e frame.number -e frame.time_relative -e tcp.stream -e tcp.srcport -e tcp.dstport \
        -e tcp.flags.fin -e tcp.flags.reset 2>/dev/null
    echo "## TCP keep-alive probes / ACKs (frame, stream, src port)"
    tshark -r "$file" -n -Y 'tcp.analysis.keep_alive or tcp.analysis.keep_alive_ack' -T fields \
        -e frame.number -e frame.time_relative -e tcp.stream -e tcp.srcport \
        -e tcp.analysis.keep_alive -e tcp.analysis.keep_alive_ack 2>/dev/null
done
