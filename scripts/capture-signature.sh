#!/usr/bin/env bash
# Prints a run-independent summary of captures: per connection (tshark stream
# number, in SYN order), the HTTP messages, FIN/RST and TCP keep-alive
# segments with the sending side (C = client, the SYN sender; S = server),
# without ports or times. Two recordings of the same scenario give the same
# output except where captures/README.md names a loopback FIN race.
#     scripts/capture-signature.sh captures/*.pcap > captures/SIGNATURES.txt
set -euo pipefail
command -v tshark >/dev/null || { echo "capture-signature: tshark is needed" >&2; exit 1; }
for file in "$@"; do
    echo "## $(basename "$file")"
    # Decode every server port as HTTP: otherwise an ephemeral client port that
    # happens to be registered for another protocol (e.g. 44818, EtherNet/IP)
    # hides the HTTP from tshark.
    decode_as=()
    for port in $(tshark -r "$file" -n -Y 'tcp.flags.syn==1 and tcp.flags.ack==0' -T fields -e tcp.dstport 2>/dev/null | sort -u); do
        decode_as+=(-d "tcp.port==$port,http")
    done
    {
        # The SYN (without ACK) names the server port of each stream.
        tshark -r "$file" -n -Y 'tcp.flags.syn==1 and tcp.flags.ack==0' -T fields \
            -e tcp.stream -e tcp.dstport 2>/dev/null | sed 's/^/SYN\t/'
        echo "EVENTS"
        # desegment_body off: see capture-facts.sh (HEAD in a pipeline).
        tshark -r "$file" -n "${decode_as[@]}" -o http.desegment_body:FALSE \
            -Y 'http.request or http.response or tcp.flags.fin==1 or tcp.flags.reset==1 or tcp.analysis.keep_alive or tcp.analysis.keep_alive_ack' \
            -T fields -E occurrence=a -E aggregator='|' \
            -e tcp.stream -e tcp.srcport -e http.request.method -e http.request.uri -e http.response.code \
            -e http.connection -e tcp.flags.fin -e tcp.flags.reset -e tcp.analysis.keep_alive \
            -e tcp.analysis.keep_alive_ack 2>/dev/null
    } | awk -F'\t' -v OFS='\t' '
        $1 == "SYN" { server_port[$2] = $3; next }
        $0 == "EVENTS" { next }
        {
            $2 = ($2 == server_port[$1]) ? "S" : "C"
            $7 = ($7 == "1" || $7 == "True") ? "FIN" : ""
            $8 = ($8 == "1" || $8 == "True") ? "RST" : ""
            $9 = ($9 != "") ? "KA" : ""
            $10 = ($10 != "") ? "KA-ACK" : ""
            print
        }' | sort -s -t"$(printf '\t')" -k1,1n
done
