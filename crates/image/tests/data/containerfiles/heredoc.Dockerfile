FROM busybox
ARG NAME=world
RUN <<EOF
echo hello
echo $NAME
EOF
COPY <<-EOT /etc/greeting
	hello ${NAME}
	EOT
COPY <<'RAW' /etc/raw
$NAME stays
RAW
