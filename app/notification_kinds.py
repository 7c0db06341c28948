"""The kinds of notification: their subject and message, marked for translation.

Each message is formatted with the notification's params. A notification's
e-mail uses templates/email/notification.{txt,html} unless a kind names its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString


@dataclass(frozen=True)
class Kind:
    subject: LazyString
    message: LazyString


KINDS: dict[str, Kind] = {
    "company.submitted": Kind(
        _l("Company %(company)s submitted for verification"),
        _l("%(company)s was submitted for verification and waits in the queue."),
    ),
    "company.approved": Kind(
        _l("Your company is verified"),
        _l("%(company)s is verified. You can now post jobs on Plasticonnect Hub."),
    ),
    "company.rejected": Kind(
        _l("Your company could not be verified"),
        _l("%(company)s could not be verified. Reason: %(reason)s"),
    ),
    "company.info_requested": Kind(
        _l("The hub needs more information about your company"),
        _l("The hub asks about %(company)s: %(question)s"),
    ),
    "company.suspended": Kind(
        _l("Your company account is suspended"),
        _l("%(company)s is suspended. Reason: %(reason)s"),
    ),
    "company.reinstated": Kind(
        _l("Your company account is active again"),
        _l("%(company)s is active again."),
    ),
    "expert.submitted": Kind(
        _l("Expert %(pseudonym)s submitted for verification"),
        _l("Expert %(pseudonym)s was submitted for verification and waits in the queue."),
    ),
    "expert.approved": Kind(
        _l("Your expert profile is verified"),
        _l("Your profile (%(pseudonym)s) is verified. You will now be matched with jobs."),
    ),
    "expert.rejected": Kind(
        _l("Your expert profile could not be verified"),
        _l("Your profile could not be verified. Reason: %(reason)s"),
    ),
    "expert.info_requested": Kind(
        _l("The hub needs more information about your profile"),
        _l("The hub asks: %(question)s"),
    ),
    "expert.suspended": Kind(
        _l("Your expert profile is suspended"),
        _l("Your profile is suspended. Reason: %(reason)s"),
    ),
    "expert.reinstated": Kind(
        _l("Your expert profile is active again"),
        _l("Your profile is active again."),
    ),
    "document.rejected": Kind(
        _l("A document was not accepted"),
        _l("The document “%(name)s” was not accepted: %(reason)s"),
    ),
    "member.joined": Kind(
        _l("%(name)s joined your company"),
        _l("%(name)s accepted your invitation and joined %(company)s."),
    ),
    "account.password_changed": Kind(
        _l("Your password was changed"),
        _l("The password of your account was changed. If this was not you, reset it now."),
    ),
    "account.suspended": Kind(
        _l("Your account is suspended"),
        _l("Your account is suspended. Reason: %(reason)s"),
    ),
    "account.reinstated": Kind(
        _l("Your account is active again"),
        _l("Your account is active again; you can log in."),
    ),
    "account.two_factor_disabled": Kind(
        _l("Two-factor authentication was turned off"),
        _l("Two-factor authentication was turned off for your account. If this was not you, "
           "reset your password and turn it on again."),
    ),
    # Jobs (issue 3)
    "job.submitted": Kind(
        _l("Job “%(job)s” submitted for review"),
        _l("%(company)s submitted the job “%(job)s”; it waits in the review queue."),
    ),
    "job.clarification_requested": Kind(
        _l("The hub has a question about your job"),
        _l("The hub asks about the job “%(job)s”: %(question)s"),
    ),
    "job.clarification_answered": Kind(
        _l("Question about job “%(job)s” answered"),
        _l("%(company)s answered the question about “%(job)s”; it is back in the review queue."),
    ),
    "job.published": Kind(
        _l("Your job is published"),
        _l("The job “%(job)s” is published (%(visibility)s)."),
    ),
    "job.rejected": Kind(
        _l("Your job was not published"),
        _l("The job “%(job)s” was not published. Reason: %(reason)s"),
    ),
    "job.cancelled": Kind(
        _l("Your job was cancelled"),
        _l("The hub cancelled the job “%(job)s”. Reason: %(reason)s"),
    ),
    "job.closed": Kind(
        _l("Your job was closed"),
        _l("The hub closed the job “%(job)s”. Reason: %(reason)s"),
    ),
    "job.invited": Kind(
        _l("You are invited to a job"),
        _l("The hub invites you to look at the job “%(job)s”."),
    ),
    "job.withdrawn": Kind(
        _l("A job was withdrawn"),
        _l("The job “%(job)s” you were invited to was withdrawn."),
    ),
    # Matching, invitations and offers (issue 4)
    "job.recommended": Kind(
        _l("A job matches your profile"),
        _l("The job “%(job)s” matches your profile; have a look and make an offer if it suits you."),
    ),
    "match.failed": Kind(
        _l("Ranking of job “%(job)s” failed"),
        _l("The ranking of the experts for “%(job)s” failed: %(error)s. Start it again from the matching page."),
    ),
    "invitation.declined": Kind(
        _l("%(expert)s declined the invitation to “%(job)s”"),
        _l("%(expert)s declined the invitation to the job “%(job)s”. Reason: %(reason)s"),
    ),
    "offer.submitted": Kind(
        _l("New offer from %(expert)s on “%(job)s”"),
        _l("%(expert)s sent an offer of %(price)s for the job “%(job)s”; it waits in the offers queue."),
    ),
    "offer.version_added": Kind(
        _l("%(expert)s changed the offer on “%(job)s”"),
        _l("%(expert)s sent version %(number)s of the offer on “%(job)s” (%(price)s)."),
    ),
    "offer.withdrawn": Kind(
        _l("%(expert)s withdrew the offer on “%(job)s”"),
        _l("%(expert)s withdrew the offer on the job “%(job)s”. Reason: %(reason)s"),
    ),
    # Catalog tickets (issue 3)
    "ticket.opened": Kind(
        _l("Catalog ticket from %(company)s: %(term)s"),
        _l("%(company)s cannot find “%(term)s” in the catalog and opened a ticket."),
    ),
    "ticket.message_from_company": Kind(
        _l("New message on catalog ticket “%(term)s”"),
        _l("%(company)s wrote on the ticket about “%(term)s”: %(body)s"),
    ),
    "ticket.message_from_hub": Kind(
        _l("The hub wrote about your catalog ticket"),
        _l("The hub wrote on your ticket about “%(term)s”: %(body)s"),
    ),
    "ticket.in_progress": Kind(
        _l("The hub is working on your catalog ticket"),
        _l("The hub started working on your ticket about “%(term)s”."),
    ),
    "ticket.resolved": Kind(
        _l("Your catalog ticket is resolved"),
        _l("Your ticket about “%(term)s” is resolved; the new terms are available in your draft: %(terms)s. "
           "Note from the hub: %(note)s"),
    ),
    "ticket.declined": Kind(
        _l("Your catalog ticket was declined"),
        _l("Your ticket about “%(term)s” was declined. Reason: %(reason)s"),
    ),
}
