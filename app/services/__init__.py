"""The only code that changes state: one public function per transition."""
