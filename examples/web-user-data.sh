#!/bin/sh
# A tiny web app: answers on port 80 with where its database is.
echo "DB=${vm.webtier-db.ip}" > /etc/app.env
mkdir -p /srv/www
echo "ok db=${vm.webtier-db.ip} host=$(hostname)" > /srv/www/index.html
(busybox httpd -p 80 -h /srv/www || httpd -p 80 -h /srv/www) &
